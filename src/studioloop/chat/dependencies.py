"""Resolving the chat participant of a request or a WebSocket, with the studio's
row-level security context set on the session."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import members, service as accounts
from studioloop.chat import exceptions as exc
from studioloop.chat.identity import InvalidGuestToken, Participant, read_guest_token
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants import service as tenants_service
from studioloop.tenants.exceptions import TenantNotFound, TenantRequired


async def participant_for(
    session: AsyncSession, settings: Settings, token: str | None, tenant_slug: str | None
) -> Participant:
    """A guest token names its studio; a person's access token needs one given."""
    if not token:
        raise exc.ChatTokenInvalid()
    try:
        guest = read_guest_token(settings, token)
    except InvalidGuestToken:
        guest = None
    if guest is not None:
        await enter_tenant_for_transaction(session, guest.tenant_id)
        return guest
    try:
        claims = security.decode_access_token(settings, token)
    except security.InvalidToken as error:
        raise exc.ChatTokenInvalid() from error
    user = await accounts.get_active_user(session, claims.user_id)
    if user is None:
        raise exc.ChatTokenInvalid()
    if not tenant_slug:
        raise TenantRequired()
    try:
        key = ("id", str(uuid.UUID(tenant_slug)))
    except ValueError:
        key = ("slug", tenant_slug.lower())
    tenant = await tenants_service.find_tenant_ref(session, key)
    if tenant is None or tenant.status not in ("active", "trial"):
        raise TenantNotFound()
    await enter_tenant_for_transaction(session, tenant.id)
    membership = await members.membership_of(session, tenant.id, user.id)
    staff = bool(membership and membership.allows("instructor"))
    return Participant("user", user.id, tenant.id, f"{user.first_name} {user.last_name}", staff)


def _tenant_slug(request: Request) -> str | None:
    slug = request.path_params.get("slug") or request.headers.get("x-tenant-id")
    return str(slug) if slug else None


async def get_participant(request: Request, session: DbSession) -> Participant:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    return await participant_for(session, request.app.state.settings, token, _tenant_slug(request))


ChatParticipant = Annotated[Participant, Depends(get_participant)]
