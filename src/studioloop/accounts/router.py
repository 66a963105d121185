from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from studioloop.accounts import invitations, members, schemas, service
from studioloop.accounts.dependencies import CurrentUser, require_role
from studioloop.accounts.roles import Role
from studioloop.accounts.schemas import MemberStatus
from studioloop.api_keys.dependencies import staff_or_key
from studioloop.api_keys.scopes import MEMBERS_READ
from studioloop.config import Settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.pagination import (
    Page,
    cursor_datetime,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
)
from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
Admin = Annotated[members.Membership, Depends(require_role("admin"))]


# --- auth --------------------------------------------------------------------------------


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RegisterResponse,
    tags=["auth"],
    responses=errors(409, 422, 429),
)
async def register(
    body: schemas.RegisterRequest, session: DbSession, settings: SettingsDep, _: SensitiveRateLimit
) -> schemas.RegisterResponse:
    """Create an account and email a 6-digit verification code (valid 15 minutes)."""
    user = await service.register(session, settings, body)
    return schemas.RegisterResponse(id=user.id, email=user.email)


@router.post(
    "/auth/verify",
    response_model=schemas.TokenPair,
    tags=["auth"],
    responses=errors(400, 409, 422, 429),
)
async def verify(
    body: schemas.VerifyRequest, session: DbSession, settings: SettingsDep, _: SensitiveRateLimit
) -> schemas.TokenPair:
    """Confirm the emailed code; returns tokens. Five wrong codes void the code."""
    return await service.verify_email(session, settings, str(body.email), body.code)


@router.post(
    "/auth/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.AcceptedResponse,
    tags=["auth"],
    responses=errors(422, 429),
)
async def resend_verification(
    body: schemas.EmailRequest, session: DbSession, settings: SettingsDep, _: SensitiveRateLimit
) -> schemas.AcceptedResponse:
    await service.resend_verification(session, settings, str(body.email))
    return schemas.AcceptedResponse(
        message="If this email has an unverified account, a new code is on its way."
    )


@router.post(
    "/auth/login",
    response_model=schemas.TokenPair,
    tags=["auth"],
    responses=errors(401, 403, 422, 429),
)
async def login(
    body: schemas.LoginRequest, session: DbSession, settings: SettingsDep, _: SensitiveRateLimit
) -> schemas.TokenPair:
    return await service.login(session, settings, str(body.email), body.password)


@router.post(
    "/auth/refresh",
    response_model=schemas.TokenPair,
    tags=["auth"],
    responses=errors(401, 422, 429),
)
async def refresh(
    body: schemas.RefreshRequest, session: DbSession, settings: SettingsDep
) -> schemas.TokenPair:
    """Exchange a refresh token for new tokens. Each refresh token works once; presenting
    a used one again revokes every token from that sign-in."""
    return await service.refresh(session, settings, body.refresh_token)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    responses=errors(422, 429),
)
async def logout(body: schemas.RefreshRequest, session: DbSession) -> None:
    await service.logout(session, body.refresh_token)


@router.post(
    "/auth/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.AcceptedResponse,
    tags=["auth"],
    responses=errors(422, 429),
)
async def request_password_reset(
    body: schemas.EmailRequest, session: DbSession, settings: SettingsDep, _: SensitiveRateLimit
) -> schemas.AcceptedResponse:
    await service.request_password_reset(session, settings, str(body.email))
    return schemas.AcceptedResponse(
        message="If an account uses this email, a reset code is on its way."
    )


@router.post(
    "/auth/password-reset/confirm",
    response_model=schemas.AcceptedResponse,
    tags=["auth"],
    responses=errors(400, 422, 429),
)
async def confirm_password_reset(
    body: schemas.PasswordResetConfirm,
    session: DbSession,
    settings: SettingsDep,
    _: SensitiveRateLimit,
) -> schemas.AcceptedResponse:
    await service.confirm_password_reset(
        session, settings, str(body.email), body.code, body.new_password
    )
    return schemas.AcceptedResponse(message="Password changed; every other session was signed out.")


# --- profile -----------------------------------------------------------------------------


@router.get(
    "/users/profile", response_model=schemas.UserProfile, tags=["users"], responses=errors(401)
)
async def get_profile(user: CurrentUser, session: DbSession) -> schemas.UserProfile:
    return await service.profile(session, user)


@router.put(
    "/users/profile", response_model=schemas.UserProfile, tags=["users"], responses=errors(401, 422)
)
async def update_profile(
    body: schemas.ProfileUpdate, user: CurrentUser, session: DbSession
) -> schemas.UserProfile:
    return await service.update_profile(session, user, body)


@router.post(
    "/users/profile/password",
    status_code=204,
    tags=["users"],
    responses=errors(400, 401, 422, 429),
)
async def change_password(
    body: schemas.PasswordChange,
    user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    _: SensitiveRateLimit,
) -> Response:
    """Change the password, proving the current one; every other device is signed out
    (refresh tokens revoked). Access tokens already issued run out on their own."""
    await service.change_password(session, settings, user, body.current_password, body.new_password)
    return Response(status_code=204)


# --- members of a tenant -----------------------------------------------------------------
# Each is reachable as /tenants/{slug}/members... or as /members... with the tenant taken
# from X-Tenant-ID or the host.

MEMBER_ERRORS = errors(400, 401, 403, 404, 422)


async def _list_members(
    tenant: Annotated[TenantRef, Depends(staff_or_key("admin", MEMBERS_READ))],
    session: DbSession,
    role: Annotated[Role | None, Query()] = None,
    status: Annotated[MemberStatus | None, Query()] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Part of a name, full name, email or phone"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[schemas.MemberOut]:
    after = None
    if cursor:
        email, raw_id = decode_cursor(cursor, 2)
        after = (str(email), cursor_uuid(raw_id))
    items = await members.list_members(
        session, tenant.id, role=role, status=status, q=q, limit=limit + 1, offset_after=after
    )
    next_cursor = (
        encode_cursor([items[limit - 1].email, items[limit - 1].membership_id])
        if len(items) > limit
        else None
    )
    return Page(items=items[:limit], next_cursor=next_cursor)


async def _invite_member(
    body: schemas.InviteRequest,
    response: Response,
    tenant: CurrentTenant,
    actor: Admin,
    session: DbSession,
    settings: SettingsDep,
) -> schemas.MemberOut:
    """Invite someone by email (admin+; only owners invite admins and owners).

    201 with the new invitation. If the email already has a pending invitation here, it is
    sent again with a new link (the old one stops working) and a new 7-day expiry: 200."""
    invitation, created = await invitations.invite_member(session, settings, tenant.id, actor, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return invitation


async def _get_member(
    user_id: uuid.UUID, tenant: CurrentTenant, _actor: Admin, session: DbSession
) -> schemas.MemberOut:
    return await members.get_member(session, tenant.id, user_id)


async def _update_member(
    user_id: uuid.UUID,
    body: schemas.MemberUpdate,
    tenant: CurrentTenant,
    actor: Admin,
    session: DbSession,
) -> schemas.MemberOut:
    return await members.update_member(session, tenant.id, actor, user_id, body)


async def _member_history(
    user_id: uuid.UUID,
    tenant: CurrentTenant,
    _actor: Admin,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[schemas.AuditEntryOut]:
    """Invitations, joining, role and status changes of a member, newest first."""
    before = None
    if cursor:
        created_at, raw_id = decode_cursor(cursor, 2)
        before = (cursor_datetime(created_at), cursor_uuid(raw_id))
    items = await members.member_history(
        session, tenant.id, user_id, limit=limit + 1, before=before
    )
    next_cursor = (
        encode_cursor([items[limit - 1].created_at.isoformat(), items[limit - 1].id])
        if len(items) > limit
        else None
    )
    return Page(items=items[:limit], next_cursor=next_cursor)


async def _get_invitation(
    membership_id: uuid.UUID, tenant: CurrentTenant, _actor: Admin, session: DbSession
) -> schemas.MemberOut:
    return await invitations.get_invitation(session, tenant.id, membership_id)


async def _revoke_invitation(
    membership_id: uuid.UUID, tenant: CurrentTenant, actor: Admin, session: DbSession
) -> None:
    """Withdraw a pending invitation; its link stops working (admin+; owner for staff)."""
    await invitations.revoke_invitation(session, tenant.id, actor, membership_id)


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/members",
        _list_members,
        methods=["GET"],
        response_model=Page[schemas.MemberOut],
        tags=["members"],
        responses=MEMBER_ERRORS,
        summary="List members, staff and pending invitations (admin+, or an API key with "
        "members:read)",
    )
    router.add_api_route(
        f"{prefix}/members",
        _invite_member,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.MemberOut,
        tags=["members"],
        responses={
            **MEMBER_ERRORS,
            **errors(409),
            200: {"model": schemas.MemberOut, "description": "Pending invitation sent again"},
        },
        summary="Invite someone by email (admin+; owner to invite staff above instructor)",
    )
    router.add_api_route(
        f"{prefix}/members/invitations/{{membership_id}}",
        _get_invitation,
        methods=["GET"],
        response_model=schemas.MemberOut,
        tags=["members"],
        responses=MEMBER_ERRORS,
        summary="A pending invitation (admin+)",
    )
    router.add_api_route(
        f"{prefix}/members/invitations/{{membership_id}}",
        _revoke_invitation,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["members"],
        responses=MEMBER_ERRORS,
        summary="Revoke a pending invitation (admin+; owner for admin and owner invitations)",
    )
    router.add_api_route(
        f"{prefix}/members/{{user_id}}",
        _get_member,
        methods=["GET"],
        response_model=schemas.MemberOut,
        tags=["members"],
        responses=MEMBER_ERRORS,
        summary="A member of this studio (admin+)",
    )
    router.add_api_route(
        f"{prefix}/members/{{user_id}}",
        _update_member,
        methods=["PATCH"],
        response_model=schemas.MemberOut,
        tags=["members"],
        responses={**MEMBER_ERRORS, **errors(409)},
        summary="Change a member's role or status (admin+; owner for staff)",
    )
    router.add_api_route(
        f"{prefix}/members/{{user_id}}/history",
        _member_history,
        methods=["GET"],
        response_model=Page[schemas.AuditEntryOut],
        tags=["members"],
        responses=MEMBER_ERRORS,
        summary="A member's history of invitations, role and status changes (admin+)",
    )


@router.post(
    "/members/accept-invite",
    response_model=schemas.AcceptedInvitation,
    tags=["members"],
    responses=errors(400, 401, 404, 409, 422, 429),
)
async def accept_invite(
    body: schemas.AcceptInviteRequest,
    user: CurrentUser,
    session: DbSession,
    _: SensitiveRateLimit,
) -> schemas.AcceptedInvitation:
    """Accept an emailed invitation with the signed-in account; the studio is the one that
    sent it. Unknown or used token: 404 `INVITATION_NOT_FOUND`; expired: 400
    `INVITATION_EXPIRED`; already an active member: 409 `ALREADY_MEMBER`."""
    return await invitations.accept_invitation(session, user, body.token)


@router.post(
    "/tenants/{slug}/join",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MemberOut,
    tags=["members"],
    responses=errors(401, 403, 404, 409),
)
async def join(tenant: CurrentTenant, user: CurrentUser, session: DbSession) -> schemas.MemberOut:
    """Become a member of a studio."""
    return await members.join_tenant(session, tenant.id, user)
