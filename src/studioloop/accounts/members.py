"""Accounts: memberships of studios, roles and the membership history.

Part of the domain's public face beside `service.py` (sign-up, sign-in, profiles); the two
do not import each other.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as exc, repository
from studioloop.accounts.models import (
    MemberNote,
    MembershipAudit,
    User,
    UserTenantRole,
)
from studioloop.accounts.roles import RANK, at_least
from studioloop.accounts.schemas import (
    AuditEntryOut,
    MemberOut,
    MemberUpdate,
)
from studioloop.core.errors import field_error

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
    audit(session, row, "joined", actor_user_id, after={"role": role, "status": "active"})
    await session.flush()
    return row


async def join_tenant(session: AsyncSession, tenant_id: uuid.UUID, user: User) -> MemberOut:
    row = await grant_role(session, tenant_id, user.id, "member", actor_user_id=user.id)
    await session.refresh(row)
    return member_out(row, user)


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
    limit: int | None,
    offset_after: tuple[str, uuid.UUID] | None,
    only: Collection[uuid.UUID] | None = None,
    excluding: Collection[uuid.UUID] = (),
) -> list[MemberOut]:
    """Members, staff and pending invitations, by email then membership id.

    A pending invitation has no user yet, so its email, names and phone are the invited_*
    ones: every filter, the search and the sort use whichever applies to the row. `only`
    keeps the users listed (pending invitations, having no user, drop out); `excluding`
    leaves the users listed out. No `limit`: every row."""
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
    if only is not None:
        query = query.where(UserTenantRole.user_id.in_(list(only)))
    if excluding:
        query = query.where(or_(pending, UserTenantRole.user_id.not_in(list(excluding))))
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
    query = query.order_by(email, UserTenantRole.id)
    rows = await session.execute(query if limit is None else query.limit(limit))
    return [member_out(membership, user) for membership, user in rows]


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
    return member_out(row[0], row[1])


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
        audit(
            session,
            row,
            "role_changed",
            actor.user_id,
            before={"role": row.role},
            after={"role": changes.role},
        )
        row.role = changes.role
    if changes.status is not None and changes.status != row.status:
        audit(
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


def member_out(membership: UserTenantRole, user: User | None) -> MemberOut:
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


def isoformat_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def audit(
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


# --- staff notes ------------------------------------------------------------------------

NOTES_SHOWN = 100


async def add_note(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    author_user_id: uuid.UUID,
    user_id: uuid.UUID,
    body: str,
) -> MemberNote:
    """A staff note about one of the studio's people (the page checks the author is staff)."""
    text = body.strip()
    if not text:
        raise field_error("body", "Write the note first.")
    if len(text) > 2000:
        raise field_error("body", "Keep a note under 2000 characters.")
    await get_member(session, tenant_id, user_id)  # someone of this studio's
    note = MemberNote(
        tenant_id=tenant_id, user_id=user_id, author_user_id=author_user_id, body=text
    )
    session.add(note)
    await session.flush()
    await session.refresh(note)
    return note


async def notes_about(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[MemberNote, str | None]]:
    """The studio in context's notes about a person, newest first, with each author's name."""
    rows = await session.execute(
        select(MemberNote, User.first_name + " " + User.last_name)
        .outerjoin(User, User.id == MemberNote.author_user_id)
        .where(MemberNote.user_id == user_id)
        .order_by(MemberNote.created_at.desc(), MemberNote.id.desc())
        .limit(NOTES_SHOWN)
    )
    return [(row[0], row[1]) for row in rows]
