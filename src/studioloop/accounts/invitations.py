"""Invitations to a studio: sent by staff, previewed and accepted by the invited person
(who may not have an account yet), revoked; each step in the membership history.

An invitation is a pending membership row (members.py), found by its token's hash before
the studio is known (`tenancy.invitation_lookup`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as exc
from studioloop.accounts.emails import normalise_email, user_by_email as _user_by_email
from studioloop.accounts.members import (
    Membership,
    audit,
    isoformat_or_none,
    member_out,
    membership_of,
)
from studioloop.accounts.models import User, UserTenantRole
from studioloop.accounts.roles import RANK
from studioloop.accounts.schemas import (
    AcceptedInvitation,
    InvitationPreview,
    InviteRequest,
    MemberOut,
)
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db import tenancy
from studioloop.notifications import service as notifications
from studioloop.tenants.models import Tenant


def _now() -> datetime:
    return datetime.now(UTC)


# --- invitations -------------------------------------------------------------------------

ROLE_PHRASES = {
    "owner": "an owner",
    "admin": "an admin",
    "instructor": "an instructor",
    "member": "a member",
}


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/accept-invite?token={quote(token, safe='')}"


def _check_may_invite(actor: Membership, role: str) -> None:
    # Same rule as role changes: admins handle members and instructors, owners everyone.
    if RANK[role] >= RANK["admin"] and actor.role != "owner":
        raise exc.InsufficientRole(details={"required_role": "owner"})


def _invitation_details(row: UserTenantRole) -> dict[str, Any]:
    return {
        "email": row.invited_email,
        "first_name": row.invited_first_name,
        "last_name": row.invited_last_name,
        "phone": row.invited_phone,
        "role": row.role,
        "expires_at": isoformat_or_none(row.invitation_expires_at),
    }


async def invite_member(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    actor: Membership,
    data: InviteRequest,
) -> tuple[MemberOut, bool]:
    """Invite someone by email; returns the invitation and whether it is new.

    Inviting an email that already has a pending invitation in this studio sends it again
    with a new token (the old link stops working), a new expiry and the details given now.
    """
    _check_may_invite(actor, data.role)
    email = normalise_email(str(data.email))
    invitee = await _user_by_email(session, email)
    if invitee is not None:
        current = await membership_of(session, tenant_id, invitee.id)
        if current is not None and current.status == "active":
            raise exc.InviteeAlreadyMember(details={"field": "email"})
        # An inactive member is invited like anyone else; accepting reactivates them.
    row = await _pending_invitation(session, tenant_id, email)
    created = False
    if row is None:
        row = UserTenantRole(
            tenant_id=tenant_id,
            user_id=None,
            role=data.role,
            status="invited",
            invited_email=email,
            invited_first_name=data.first_name,
            invited_last_name=data.last_name,
            invited_phone=data.phone,
        )
        token = _new_invitation_token(settings, row, actor.user_id)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
            created = True
        except IntegrityError:
            # A concurrent request invited the same email first: refresh theirs instead.
            row = await _pending_invitation(session, tenant_id, email)
            if row is None:
                raise
    if created:
        audit(session, row, "invited", actor.user_id, after=_invitation_details(row))
    else:
        _check_may_invite(actor, row.role)
        before = _invitation_details(row)
        row.role = data.role
        row.invited_first_name = data.first_name
        row.invited_last_name = data.last_name
        row.invited_phone = data.phone
        token = _new_invitation_token(settings, row, actor.user_id)
        audit(
            session, row, "reinvited", actor.user_id, before=before, after=_invitation_details(row)
        )
    await session.flush()
    await _send_invitation(session, settings, row, token)
    return member_out(row, None), created


async def _pending_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, email: str
) -> UserTenantRole | None:
    return await session.scalar(
        select(UserTenantRole)
        .where(
            UserTenantRole.tenant_id == tenant_id,
            UserTenantRole.invited_email == email,
            UserTenantRole.status == "invited",
        )
        .with_for_update()
    )


def _new_invitation_token(settings: Settings, row: UserTenantRole, inviter_id: uuid.UUID) -> str:
    """Give the invitation a fresh single-use token; returns it (only its hash is kept)."""
    token = security.new_opaque_token()
    now = _now()
    row.invitation_token_hash = security.token_digest(token)
    row.invitation_expires_at = now + timedelta(days=settings.invitation_ttl_days)
    row.invited_at = now
    row.invited_by_user_id = inviter_id
    return token


async def _send_invitation(
    session: AsyncSession, settings: Settings, row: UserTenantRole, token: str
) -> None:
    tenant = await session.get(Tenant, row.tenant_id)
    inviter = await session.get(User, row.invited_by_user_id) if row.invited_by_user_id else None
    assert tenant is not None and row.invited_email is not None
    await notifications.notify(
        session,
        "invitation",
        tenant_id=row.tenant_id,
        email=row.invited_email,
        context={
            "first_name": row.invited_first_name,
            "studio_name": tenant.name,
            "role": row.role,
            "role_phrase": ROLE_PHRASES[row.role],
            "inviter_name": f"{inviter.first_name} {inviter.last_name}" if inviter else "",
            "link": invitation_link(settings, token),
            "days": settings.invitation_ttl_days,
        },
    )


async def _invitation_by_token(
    session: AsyncSession, token: str, *, for_update: bool
) -> UserTenantRole | None:
    """The pending invitation holding this token, in whichever tenant it is.

    The token's hash is put in the transaction for this one query (the RLS policy shows
    the matching row) and removed straight after, so nothing else becomes visible."""
    digest = security.token_digest(token)
    query = select(UserTenantRole).where(
        UserTenantRole.invitation_token_hash == digest, UserTenantRole.status == "invited"
    )
    async with tenancy.invitation_lookup(session, digest):
        return await session.scalar(query.with_for_update() if for_update else query)


async def preview_invitation(session: AsyncSession, token: str) -> InvitationPreview:
    """What an invitation link offers (studio, role), for the page the link opens."""
    row = await _invitation_by_token(session, token, for_update=False)
    if row is None:
        raise exc.InvitationNotFound()
    tenant = await session.get(Tenant, row.tenant_id)
    assert tenant is not None and row.invitation_expires_at is not None
    return InvitationPreview(
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        role=row.role,
        email=row.invited_email or "",
        expired=row.invitation_expires_at <= _now(),
    )


async def accept_invitation(session: AsyncSession, user: User, token: str) -> AcceptedInvitation:
    """Make the signed-in user the member the invitation describes.

    The token is the proof: it was emailed to the invited address, and whoever holds it
    may accept with the account they are signed in to. A user with an inactive membership
    of the studio is reactivated with the invitation's role; the invitation row goes."""
    row = await _invitation_by_token(session, token, for_update=True)
    if row is None:
        raise exc.InvitationNotFound()
    assert row.invitation_expires_at is not None
    if row.invitation_expires_at <= _now():
        raise exc.InvitationExpired()
    await tenancy.enter_tenant_for_transaction(session, row.tenant_id)
    before = {"status": "invited", "role": row.role, "email": row.invited_email}
    existing = await session.scalar(
        select(UserTenantRole)
        .where(UserTenantRole.tenant_id == row.tenant_id, UserTenantRole.user_id == user.id)
        .with_for_update()
    )
    if existing is not None:
        if existing.status == "active":
            raise exc.AlreadyMember()
        invitation_id = row.id
        before = {
            **before,
            "status": existing.status,
            "previous_role": existing.role,
            "invitation_id": str(invitation_id),
        }
        existing.role = row.role
        existing.status = "active"
        existing.invited_at = row.invited_at
        existing.invited_by_user_id = row.invited_by_user_id
        await session.delete(row)
        await session.flush()
        member = existing
    else:
        row.user_id = user.id
        row.status = "active"
        row.joined_at = _now()
        # The invited_* details only stood in for the user's own; dropping them also frees
        # the email for a later invitation should this person leave and be invited again.
        row.invited_email = None
        row.invited_first_name = None
        row.invited_last_name = None
        row.invited_phone = None
        row.invitation_token_hash = None
        row.invitation_expires_at = None
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError as error:  # joined by another request meanwhile
            raise exc.AlreadyMember() from error
        member = row
    audit(
        session,
        member,
        "invitation_accepted",
        user.id,
        before=before,
        after={"status": "active", "role": member.role, "user_id": str(user.id)},
    )
    await session.flush()
    tenant = await session.get(Tenant, member.tenant_id)
    assert tenant is not None
    return AcceptedInvitation(
        **member_out(member, user).model_dump(),
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
    )


async def _invitation_in_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, membership_id: uuid.UUID, *, for_update: bool
) -> UserTenantRole:
    query = select(UserTenantRole).where(
        UserTenantRole.tenant_id == tenant_id,
        UserTenantRole.id == membership_id,
        UserTenantRole.status == "invited",
    )
    row = await session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise exc.InvitationNotFound()
    return row


async def get_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, membership_id: uuid.UUID
) -> MemberOut:
    row = await _invitation_in_tenant(session, tenant_id, membership_id, for_update=False)
    return member_out(row, None)


async def revoke_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, actor: Membership, membership_id: uuid.UUID
) -> None:
    row = await _invitation_in_tenant(session, tenant_id, membership_id, for_update=True)
    _check_may_invite(actor, row.role)
    audit(session, row, "invitation_revoked", actor.user_id, before=_invitation_details(row))
    await session.delete(row)
    await session.flush()


# --- membership history ------------------------------------------------------------------
