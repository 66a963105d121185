"""Accounts: memberships of studios, roles, invitations and the membership history.

Part of the domain's public face beside `service.py` (sign-up, sign-in, profiles); the two
do not import each other.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import case, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as exc, repository
from studioloop.accounts.emails import normalise_email, user_by_email as _user_by_email
from studioloop.accounts.models import (
    MembershipAudit,
    User,
    UserTenantRole,
)
from studioloop.accounts.roles import RANK, at_least
from studioloop.accounts.schemas import (
    AcceptedInvitation,
    AuditEntryOut,
    InvitationPreview,
    InviteRequest,
    MemberOut,
    MemberUpdate,
)
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db import tenancy
from studioloop.notifications import service as notifications
from studioloop.tenants.models import Tenant

# --- tenant roles ------------------------------------------------------------------------
# These run with the tenant already set in the transaction (row-level security), except
# where an invitation is looked up by its token (see `_invitation_by_token`).


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Membership:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    status: str

    def allows(self, minimum: str) -> bool:
        return self.status == "active" and at_least(self.role, minimum)


async def membership_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    row = await repository.membership_row(session, tenant_id, user_id)
    if row is None or row.user_id is None:
        return None
    return Membership(
        user_id=row.user_id, tenant_id=row.tenant_id, role=row.role, status=row.status
    )


async def grant_role(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    actor_user_id: uuid.UUID | None = None,
) -> UserTenantRole:
    """Make a user a member with `role` (joining, creating a studio, demo data).

    `actor_user_id` is who did it, for the history; None when the system did."""
    row = UserTenantRole(tenant_id=tenant_id, user_id=user_id, role=role, status="active")
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        raise exc.AlreadyMember() from error
    _audit(session, row, "joined", actor_user_id, after={"role": role, "status": "active"})
    await session.flush()
    return row


async def join_tenant(session: AsyncSession, tenant_id: uuid.UUID, user: User) -> MemberOut:
    row = await grant_role(session, tenant_id, user.id, "member", actor_user_id=user.id)
    await session.refresh(row)
    return _member_out(row, user)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A search that looks like a phone number also matches phones written with other spacing.
PHONE_QUERY = re.compile(r"^\+?[0-9 ()-]+$")


async def list_members(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    role: str | None,
    status: str | None = None,
    q: str | None,
    limit: int,
    offset_after: tuple[str, uuid.UUID] | None,
) -> list[MemberOut]:
    """Members, staff and pending invitations, by email then membership id.

    A pending invitation has no user yet, so its email, names and phone are the invited_*
    ones: every filter, the search and the sort use whichever applies to the row."""
    pending = UserTenantRole.user_id.is_(None)
    email = case((pending, UserTenantRole.invited_email), else_=User.email)
    first_name = case((pending, UserTenantRole.invited_first_name), else_=User.first_name)
    last_name = case((pending, UserTenantRole.invited_last_name), else_=User.last_name)
    phone = case((pending, UserTenantRole.invited_phone), else_=User.phone)
    query = (
        select(UserTenantRole, User)
        .outerjoin(User, User.id == UserTenantRole.user_id)
        .where(UserTenantRole.tenant_id == tenant_id)
    )
    if role:
        query = query.where(UserTenantRole.role == role)
    if status:
        query = query.where(UserTenantRole.status == status)
    q = (q or "").strip()
    if q:
        pattern = f"%{_escape_like(q)}%"
        full_name = first_name + " " + last_name
        matches = [
            column.ilike(pattern, escape="\\")
            for column in (email, first_name, last_name, full_name, phone)
        ]
        # "082 555 0101" should find "+27 82 555 0101": compare digits only, without the
        # national trunk prefix 0 that the stored international form drops.
        digits = re.sub(r"\D", "", q).lstrip("0")
        if PHONE_QUERY.match(q) and len(digits) >= 3:
            phone_digits = func.regexp_replace(phone, "[^0-9]", "", "g")
            matches.append(phone_digits.like(f"%{digits}%"))
        query = query.where(or_(*matches))
    if offset_after:
        query = query.where(tuple_(email, UserTenantRole.id) > tuple_(*offset_after))
    rows = await session.execute(query.order_by(email, UserTenantRole.id).limit(limit))
    return [_member_out(membership, user) for membership, user in rows]


async def get_member(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> MemberOut:
    row = (
        await session.execute(
            select(UserTenantRole, User)
            .join(User, User.id == UserTenantRole.user_id)
            .where(UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user_id)
        )
    ).first()
    if row is None:
        raise exc.MemberNotFound()
    return _member_out(row[0], row[1])


async def update_member(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Membership,
    user_id: uuid.UUID,
    changes: MemberUpdate,
) -> MemberOut:
    row = await session.scalar(
        select(UserTenantRole)
        .where(
            UserTenantRole.tenant_id == tenant_id,
            UserTenantRole.user_id == user_id,
            UserTenantRole.status != "invited",
        )
        .with_for_update()
    )
    if row is None:
        raise exc.MemberNotFound()
    # Admins manage instructors and members; only owners touch admins and owners.
    touches_senior = RANK[row.role] >= RANK["admin"] or (
        changes.role is not None and RANK[changes.role] >= RANK["admin"]
    )
    if touches_senior and actor.role != "owner":
        raise exc.InsufficientRole()
    demotes_owner = row.role == "owner" and (
        (changes.role is not None and changes.role != "owner") or changes.status == "inactive"
    )
    if demotes_owner:
        # Lock every owner row so two owners demoting each other cannot both succeed.
        owners = len(
            list(
                await session.scalars(
                    select(UserTenantRole.id)
                    .where(
                        UserTenantRole.tenant_id == tenant_id,
                        UserTenantRole.role == "owner",
                        UserTenantRole.status == "active",
                    )
                    .with_for_update()
                )
            )
        )
        if owners <= 1:
            raise exc.LastOwner()
    if changes.role is not None and changes.role != row.role:
        _audit(
            session,
            row,
            "role_changed",
            actor.user_id,
            before={"role": row.role},
            after={"role": changes.role},
        )
        row.role = changes.role
    if changes.status is not None and changes.status != row.status:
        _audit(
            session,
            row,
            "status_changed",
            actor.user_id,
            before={"status": row.status},
            after={"status": changes.status},
        )
        row.status = changes.status
    await session.flush()
    return await get_member(session, tenant_id, user_id)


def _member_out(membership: UserTenantRole, user: User | None) -> MemberOut:
    if user is None:  # a pending invitation: the details it was sent with
        return MemberOut(
            membership_id=membership.id,
            user_id=None,
            email=membership.invited_email or "",
            first_name=membership.invited_first_name or "",
            last_name=membership.invited_last_name or "",
            phone=membership.invited_phone,
            role=membership.role,
            status=membership.status,
            joined_at=None,
            invited_at=membership.invited_at,
            invited_by_user_id=membership.invited_by_user_id,
            expires_at=membership.invitation_expires_at,
        )
    return MemberOut(
        membership_id=membership.id,
        user_id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        phone=user.phone,
        role=membership.role,
        status=membership.status,
        joined_at=membership.joined_at,
        invited_at=membership.invited_at,
        invited_by_user_id=membership.invited_by_user_id,
        expires_at=None,
    )


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
        "expires_at": _iso(row.invitation_expires_at),
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
        _audit(session, row, "invited", actor.user_id, after=_invitation_details(row))
    else:
        _check_may_invite(actor, row.role)
        before = _invitation_details(row)
        row.role = data.role
        row.invited_first_name = data.first_name
        row.invited_last_name = data.last_name
        row.invited_phone = data.phone
        token = _new_invitation_token(settings, row, actor.user_id)
        _audit(
            session, row, "reinvited", actor.user_id, before=before, after=_invitation_details(row)
        )
    await session.flush()
    await _send_invitation(session, settings, row, token)
    return _member_out(row, None), created


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
    _audit(
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
        **_member_out(member, user).model_dump(),
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
    return _member_out(row, None)


async def revoke_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, actor: Membership, membership_id: uuid.UUID
) -> None:
    row = await _invitation_in_tenant(session, tenant_id, membership_id, for_update=True)
    _check_may_invite(actor, row.role)
    _audit(session, row, "invitation_revoked", actor.user_id, before=_invitation_details(row))
    await session.delete(row)
    await session.flush()


# --- membership history ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _audit(
    session: AsyncSession,
    row: UserTenantRole,
    action: str,
    actor_user_id: uuid.UUID | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a change in the append-only history; written with the change's own flush."""
    session.add(
        MembershipAudit(
            tenant_id=row.tenant_id,
            membership_id=row.id,
            user_id=row.user_id,
            actor_user_id=actor_user_id,
            action=action,
            before=before,
            after=after,
        )
    )


async def member_history(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[AuditEntryOut]:
    """A member's history, newest first: their membership's rows, including those written
    while it was still an invitation or in an invitation merged into it."""
    membership_id = await session.scalar(
        select(UserTenantRole.id).where(
            UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user_id
        )
    )
    if membership_id is None:
        raise exc.MemberNotFound()
    merged_invitations = select(
        MembershipAudit.before["invitation_id"].astext.cast(PG_UUID(as_uuid=True))
    ).where(
        MembershipAudit.tenant_id == tenant_id,
        MembershipAudit.membership_id == membership_id,
        MembershipAudit.action == "invitation_accepted",
        MembershipAudit.before.has_key("invitation_id"),
    )
    query = select(MembershipAudit).where(
        MembershipAudit.tenant_id == tenant_id,
        or_(
            MembershipAudit.user_id == user_id,
            MembershipAudit.membership_id == membership_id,
            MembershipAudit.membership_id.in_(merged_invitations),
        ),
    )
    if before:
        query = query.where(
            tuple_(MembershipAudit.created_at, MembershipAudit.id) < tuple_(*before)
        )
    rows = await session.scalars(
        query.order_by(MembershipAudit.created_at.desc(), MembershipAudit.id.desc()).limit(limit)
    )
    return [AuditEntryOut.model_validate(row) for row in rows]
