"""Accounts: registration, verification, sign-in, refresh rotation, profiles, roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as exc
from studioloop.accounts.models import RefreshToken, User, UserTenantRole, VerificationCode
from studioloop.accounts.roles import RANK, at_least
from studioloop.accounts.schemas import (
    MemberOut,
    MemberUpdate,
    ProfileUpdate,
    RegisterRequest,
    TenantRoleOut,
    TokenPair,
    UserProfile,
)
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db.tenancy import set_user_context
from studioloop.notifications import service as notifications
from studioloop.tenants.models import Tenant


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _now() -> datetime:
    return datetime.now(UTC)


# --- registration and verification -------------------------------------------------------


async def register(session: AsyncSession, settings: Settings, data: RegisterRequest) -> User:
    user = User(
        email=normalise_email(str(data.email)),
        password_hash=security.hash_password(settings, data.password),
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as error:
        raise exc.EmailTaken(details={"field": "email"}) from error
    await _send_code(session, settings, user, "verify_email")
    return user


async def resend_verification(session: AsyncSession, settings: Settings, email: str) -> None:
    """Send a fresh code to an unverified account. Silent for unknown or verified emails,
    so the endpoint cannot be used to probe which addresses have accounts."""
    user = await _user_by_email(session, email)
    if user is None or user.email_verified_at is not None:
        return
    await _send_code(session, settings, user, "verify_email")


async def verify_email(
    session: AsyncSession, settings: Settings, email: str, code: str
) -> TokenPair:
    user = await _user_by_email(session, email)
    if user is None:
        raise exc.InvalidCode()
    if user.email_verified_at is not None:
        raise exc.AlreadyVerified()
    await _consume_code(session, settings, user, "verify_email", code)
    user.email_verified_at = _now()
    return await _start_session(session, settings, user)


async def _send_code(session: AsyncSession, settings: Settings, user: User, purpose: str) -> None:
    # A new code replaces earlier ones of the same purpose.
    await session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.user_id == user.id,
            VerificationCode.purpose == purpose,
            VerificationCode.consumed_at.is_(None),
        )
        .values(consumed_at=_now())
    )
    code = security.new_numeric_code()
    session.add(
        VerificationCode(
            user_id=user.id,
            purpose=purpose,
            code_hash=security.code_digest(settings, code, f"{purpose}:{user.id}"),
            expires_at=_now() + timedelta(minutes=settings.verification_code_ttl_minutes),
        )
    )
    await notifications.send_email(
        session,
        to=user.email,
        template=purpose,
        context={
            "first_name": user.first_name,
            "code": code,
            "minutes": settings.verification_code_ttl_minutes,
        },
    )


async def _consume_code(
    session: AsyncSession, settings: Settings, user: User, purpose: str, code: str
) -> None:
    record = await session.scalar(
        select(VerificationCode)
        .where(
            VerificationCode.user_id == user.id,
            VerificationCode.purpose == purpose,
            VerificationCode.consumed_at.is_(None),
        )
        .order_by(VerificationCode.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    if record is None:
        raise exc.InvalidCode()
    if record.attempts >= settings.verification_code_max_attempts:
        raise exc.TooManyAttempts()
    if record.expires_at <= _now():
        raise exc.CodeExpired()
    expected = security.code_digest(settings, code, f"{purpose}:{user.id}")
    if not security.constant_time_equals(expected, record.code_hash):
        record.attempts += 1
        await session.flush()
        if record.attempts >= settings.verification_code_max_attempts:
            raise exc.TooManyAttempts()
        raise exc.InvalidCode(
            details={"attempts_left": settings.verification_code_max_attempts - record.attempts}
        )
    record.consumed_at = _now()


# --- sign-in, refresh, sign-out ----------------------------------------------------------


async def authenticate(
    session: AsyncSession, settings: Settings, email: str, password: str
) -> User:
    """Check a password. Unknown email and wrong password give the same answer."""
    user = await _user_by_email(session, email)
    if not security.verify_password(settings, user.password_hash if user else None, password):
        raise exc.InvalidCredentials()
    assert user is not None
    if user.status != "active":
        raise exc.AccountDisabled()
    if user.email_verified_at is None:
        raise exc.EmailNotVerified()
    return user


async def login(session: AsyncSession, settings: Settings, email: str, password: str) -> TokenPair:
    user = await authenticate(session, settings, email, password)
    return await _start_session(session, settings, user)


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    digest = security.token_digest(token)
    # One statement claims the token, so two concurrent refreshes cannot both succeed.
    claimed = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == digest,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=_now())
        .returning(RefreshToken)
    )
    if claimed is None:
        existing = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest)
        )
        if existing is None:
            raise exc.InvalidToken()
        # An already-used or revoked token came back: assume it was stolen.
        await _revoke_family(session, existing.family_id)
        raise exc.RefreshTokenReused()
    if claimed.expires_at <= _now():
        raise exc.TokenExpired()
    user = await session.get(User, claimed.user_id)
    if user is None or user.status != "active":
        raise exc.InvalidToken()
    return await _issue_tokens(session, settings, user, claimed.family_id)


async def logout(session: AsyncSession, token: str) -> None:
    existing = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.token_digest(token))
    )
    if existing is not None:
        await _revoke_family(session, existing.family_id)


async def _start_session(session: AsyncSession, settings: Settings, user: User) -> TokenPair:
    user.last_login_at = _now()
    return await _issue_tokens(session, settings, user, uuid.uuid4())


async def _issue_tokens(
    session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID
) -> TokenPair:
    refresh_token = security.new_opaque_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=security.token_digest(refresh_token),
            expires_at=_now() + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=security.create_access_token(settings, user.id),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
        user=await profile(session, user),
    )


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


async def _revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


# --- password reset ----------------------------------------------------------------------


async def request_password_reset(session: AsyncSession, settings: Settings, email: str) -> None:
    user = await _user_by_email(session, email)
    if user is None or user.status != "active":
        return  # same answer either way: no account discovery through this endpoint
    await _send_code(session, settings, user, "password_reset")


async def confirm_password_reset(
    session: AsyncSession, settings: Settings, email: str, code: str, new_password: str
) -> None:
    user = await _user_by_email(session, email)
    if user is None:
        raise exc.InvalidCode()
    await _consume_code(session, settings, user, "password_reset", code)
    user.password_hash = security.hash_password(settings, new_password)
    # Receiving the code proves control of the mailbox.
    user.email_verified_at = user.email_verified_at or _now()
    await _revoke_all_sessions(session, user.id)


# --- users and profiles ------------------------------------------------------------------


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def get_active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    user = await session.get(User, user_id)
    if user is None or user.status != "active" or user.email_verified_at is None:
        return None
    await set_user_context(session, user.id)
    return user


async def profile(session: AsyncSession, user: User) -> UserProfile:
    await set_user_context(session, user.id)
    rows = await session.execute(
        select(UserTenantRole, Tenant.slug, Tenant.name)
        .join(Tenant, Tenant.id == UserTenantRole.tenant_id)
        .where(UserTenantRole.user_id == user.id)
        .order_by(Tenant.name)
    )
    roles = [
        TenantRoleOut(
            tenant_id=membership.tenant_id,
            tenant_slug=slug,
            tenant_name=name,
            role=membership.role,
            status=membership.status,
            joined_at=membership.joined_at,
        )
        for membership, slug, name in rows
    ]
    return UserProfile(
        id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        phone=user.phone,
        profile_image_url=user.profile_image_url,
        preferences=user.preferences,
        status=user.status,
        email_verified=user.email_verified_at is not None,
        is_platform_owner=user.is_platform_owner,
        tenant_roles=roles,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def update_profile(session: AsyncSession, user: User, changes: ProfileUpdate) -> UserProfile:
    for name, value in changes.model_dump(exclude_unset=True).items():
        if value is None and name in ("first_name", "last_name", "preferences"):
            continue
        setattr(user, name, value)
    await session.flush()
    await session.refresh(user)
    return await profile(session, user)


async def ensure_verified_user(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    phone: str | None = None,
    platform_owner: bool = False,
    password_hash: str | None = None,
) -> User:
    """Create or reset an active, verified account (operator commands and demo data).

    `password_hash` lets a caller creating many accounts with one password hash it once.
    """
    user = await _user_by_email(session, email)
    if user is None:
        user = User(
            email=normalise_email(email), first_name=first_name, last_name=last_name, phone=phone
        )
        session.add(user)
    user.password_hash = password_hash or security.hash_password(settings, password)
    user.is_platform_owner = user.is_platform_owner or platform_owner
    user.status = "active"
    user.email_verified_at = user.email_verified_at or _now()
    await session.flush()
    return user


# --- tenant roles ------------------------------------------------------------------------
# These run with the tenant already set in the transaction (row-level security).


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
    row = await session.scalar(
        select(UserTenantRole).where(
            UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user_id
        )
    )
    if row is None:
        return None
    return Membership(
        user_id=row.user_id, tenant_id=row.tenant_id, role=row.role, status=row.status
    )


async def grant_role(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> UserTenantRole:
    row = UserTenantRole(tenant_id=tenant_id, user_id=user_id, role=role)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        raise exc.AlreadyMember() from error
    return row


async def join_tenant(session: AsyncSession, tenant_id: uuid.UUID, user: User) -> MemberOut:
    row = await grant_role(session, tenant_id, user.id, "member")
    await session.refresh(row)
    return _member_out(row, user)


async def list_members(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    role: str | None,
    q: str | None,
    limit: int,
    offset_after: tuple[str, uuid.UUID] | None,
) -> list[MemberOut]:
    query = (
        select(UserTenantRole, User)
        .join(User, User.id == UserTenantRole.user_id)
        .where(UserTenantRole.tenant_id == tenant_id)
    )
    if role:
        query = query.where(UserTenantRole.role == role)
    if q:
        pattern = f"%{q.lower()}%"
        full_name = func.lower(User.first_name + " " + User.last_name)
        query = query.where((User.email.like(pattern)) | (full_name.like(pattern)))
    if offset_after:
        query = query.where(tuple_(User.email, User.id) > tuple_(*offset_after))
    rows = await session.execute(query.order_by(User.email, User.id).limit(limit))
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
        .where(UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user_id)
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
    if changes.role is not None:
        row.role = changes.role
    if changes.status is not None:
        row.status = changes.status
    await session.flush()
    return await get_member(session, tenant_id, user_id)


def _member_out(membership: UserTenantRole, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        phone=user.phone,
        role=membership.role,
        status=membership.status,
        joined_at=membership.joined_at,
    )
