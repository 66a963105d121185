"""Accounts: registration, verification, sign-in, refresh rotation, profiles.

Members of a studio (roles, invitations, membership history) are in `accounts.members`,
which is also part of the domain's public face: callers import it directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from studioloop.accounts import exceptions as exc
from studioloop.accounts.emails import normalise_email, user_by_email as _user_by_email
from studioloop.accounts.models import (
    RefreshToken,
    User,
    UserTenantRole,
    VerificationCode,
)
from studioloop.accounts.schemas import (
    ProfileUpdate,
    RegisterRequest,
    TenantRoleOut,
    TokenPair,
    UserProfile,
)
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db import tenancy
from studioloop.notifications import service as notifications
from studioloop.tenants.models import Tenant


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
        terms_accepted_at=_now() if data.accept_terms else None,
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
    await notifications.notify(
        session,
        purpose,
        user_id=user.id,
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
        if existing.used_at is None:
            raise exc.SessionEnded()  # revoked by sign-out or a password reset, never used
        # A token that was already exchanged came back: assume it was stolen.
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
        raise exc.ResetCodeRefused()
    try:
        await _consume_code(session, settings, user, "password_reset", code)
    except (exc.InvalidCode, exc.CodeExpired, exc.TooManyAttempts) as refusal:
        # The answer for an email without an account, so that nobody can tell the two
        # apart; the failed attempt is still counted (keep_changes).
        raise exc.ResetCodeRefused() from refusal
    user.password_hash = security.hash_password(settings, new_password)
    # Receiving the code proves control of the mailbox.
    user.email_verified_at = user.email_verified_at or _now()
    await _revoke_all_sessions(session, user.id)


async def change_password(
    session: AsyncSession, settings: Settings, user: User, current: str, new: str
) -> None:
    """A signed-in person changes their password, proving the current one. Every other
    signed-in device is signed out (their refresh tokens revoked), as after a reset."""
    if not security.verify_password(settings, user.password_hash, current):
        raise exc.WrongPassword(details={"field": "current_password"})
    user.password_hash = security.hash_password(settings, new)
    await _revoke_all_sessions(session, user.id)
    await session.flush()


# --- users and profiles ------------------------------------------------------------------


async def get_active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    # Every authenticated request starts here, so this is one round trip: the user's row,
    # and (for row-level security) who is asking. Setting the latter for a user who then
    # turns out inactive is harmless: the request is refused.
    row = await tenancy.enter_user_reading_row(session, user_id)
    if row is None or row.status != "active" or row.email_verified_at is None:
        return None
    columns = row._asdict()
    del columns["context_set"]
    # Attach the row to the session as if the ORM had loaded it (no second query): a
    # detached copy merged without loading becomes the session's persistent User.
    user = User(**columns)
    make_transient_to_detached(user)
    return await session.merge(user, load=False)


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether an account with this id exists (whatever its status)."""
    return await session.scalar(select(User.id).where(User.id == user_id)) is not None


async def profile(session: AsyncSession, user: User) -> UserProfile:
    await tenancy.enter_user_for_transaction(session, user.id)
    rows = await session.execute(
        select(UserTenantRole, Tenant.slug, Tenant.name)
        .join(Tenant, Tenant.id == UserTenantRole.tenant_id)
        # Pending invitations have no user_id, so they never match; the status says so too.
        .where(UserTenantRole.user_id == user.id, UserTenantRole.status != "invited")
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
