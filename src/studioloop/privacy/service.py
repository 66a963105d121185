"""Erasure (GDPR / POPIA): erasing a person on their own request or the operator's.

A person's rows live in many studios and in platform tables. `plan.studios_holding` asks
`erasure_tenants` (a SECURITY DEFINER function) which studios hold anything of theirs;
the erasure then works one studio at a time under row-level security (`tenancy.scope`).
Financial records, the credit ledger and bookings stay, pointing at the anonymised account,
so every sum, receipt and count is the same after as before. What happens to each column
is listed once, in `coverage.py`; what would happen, and what blocks it, in `plan.py`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.exceptions import WrongPassword
from studioloop.accounts.models import (
    MemberNote,
    RefreshToken,
    User,
    UserTenantRole,
    VerificationCode,
)
from studioloop.billing.models import Subscription
from studioloop.booking.models import Booking
from studioloop.chat.models import ChatMessage, ChatReadMarker, ChatRoom
from studioloop.config import Settings
from studioloop.core import security
from studioloop.db import tenancy
from studioloop.db.idempotency import IdempotencyRecord
from studioloop.notifications.models import (
    EmailAttachment,
    Notification,
    NotificationPreference,
    PushSubscription,
)
from studioloop.privacy import exceptions as exc, repository
from studioloop.privacy.models import ErasureRecord
from studioloop.privacy.plan import erased_email, erasure_plan, studios_holding
from studioloop.privacy.schemas import ErasureRecordOut, UserFound
from studioloop.storage import images
from studioloop.storage.service import get_storage

__all__ = [
    "erase_self",
    "erase_user",
    "erasure_plan",
    "find_users",
    "records_for",
    "user_for_operator",
]

ERASED_NAME = "Erased member"
ERASED_MESSAGE = "(message erased)"
ERASED_SUBJECT = "(erased)"

# --- the erasure -------------------------------------------------------------------------


async def _erase_in_studio(
    session: AsyncSession,
    settings: Settings,
    user: User,
    email: str,
    tenant_id: uuid.UUID,
    counts: dict[str, int],
) -> list[str]:
    """Erase the person's rows in one studio (its context entered by the caller); returns
    the storage keys of their chat attachments, deleted once every row is done."""

    def tally(category: str, rowcount: int) -> None:
        counts[category] = counts.get(category, 0) + rowcount

    # Pending invitations to the email: revoked (their history is scrubbed already).
    result = await session.execute(
        delete(UserTenantRole).where(
            UserTenantRole.tenant_id == tenant_id,
            UserTenantRole.status == "invited",
            UserTenantRole.invited_email == email,
        )
    )
    tally("invitations", result.rowcount)  # type: ignore[attr-defined]
    roles = list(
        await session.scalars(
            select(UserTenantRole).where(
                UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user.id
            )
        )
    )
    for role in roles:
        await images.discard(settings, tenant_id, role.photo)
        role.status = "inactive"
        role.invited_email = role.invited_first_name = role.invited_last_name = None
        role.invited_phone = role.bio = None
        role.photo = None
    tally("studio_memberships", len(roles))
    result = await session.execute(
        delete(MemberNote).where(MemberNote.tenant_id == tenant_id, MemberNote.user_id == user.id)
    )
    tally("staff_notes", result.rowcount)  # type: ignore[attr-defined]
    await session.execute(
        delete(NotificationPreference).where(
            NotificationPreference.tenant_id == tenant_id,
            NotificationPreference.user_id == user.id,
        )
    )
    result = await session.execute(
        update(Subscription)
        .where(Subscription.tenant_id == tenant_id, Subscription.user_id == user.id)
        .values(payment_method_ref=None)
    )
    result = await session.execute(
        update(Booking)
        .where(Booking.tenant_id == tenant_id, Booking.user_id == user.id)
        .values(qr_code=None, cancellation_reason=None)
    )
    tally("bookings_kept", result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        update(ChatRoom)
        .where(ChatRoom.tenant_id == tenant_id, ChatRoom.opened_by_user_id == user.id)
        .values(subject=ERASED_SUBJECT)
    )
    tally("chat_rooms", result.rowcount)  # type: ignore[attr-defined]
    await session.execute(
        delete(ChatReadMarker).where(
            ChatReadMarker.tenant_id == tenant_id, ChatReadMarker.reader == f"user:{user.id}"
        )
    )
    keys = list(
        await session.scalars(
            select(ChatMessage.attachment_key).where(
                ChatMessage.tenant_id == tenant_id,
                ChatMessage.sender_user_id == user.id,
                ChatMessage.attachment_key.is_not(None),
            )
        )
    )
    await _erase_notifications(session, user, email, tenant_id, counts)
    return [key for key in keys if key]


async def _erase_notifications(
    session: AsyncSession,
    user: User,
    email: str,
    tenant_id: uuid.UUID | None,
    counts: dict[str, int],
) -> None:
    """Messages to the person from one studio, or the platform's own (`tenant_id` None),
    in that context. The studio is named as well: a member's own rows are visible from
    every studio's context, but writable only in their own."""
    in_context = (
        Notification.tenant_id.is_(None)
        if tenant_id is None
        else Notification.tenant_id == tenant_id
    )
    # Also messages to staff that quote the person's address (a support request's notice).
    addressed = and_(
        in_context,
        or_(
            Notification.user_id == user.id,
            Notification.recipient == email,
            Notification.body_text.contains(email, autoescape=True),
        ),
    )
    ids = select(Notification.id).where(addressed)
    await session.execute(delete(EmailAttachment).where(EmailAttachment.email_id.in_(ids)))
    result = await session.execute(
        update(Notification)
        .where(addressed)
        .values(
            recipient=erased_email(user.id),
            subject=None,
            body_text=ERASED_SUBJECT,
            body_html=None,
            payload={},
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    counts["notifications"] = counts.get("notifications", 0) + result.rowcount  # type: ignore[attr-defined]


async def erase_user(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    requested_by: str,
    reason: str | None = None,
) -> ErasureRecordOut:
    """Erase a person in the caller's transaction. Refused (nothing changed) while the
    plan lists blockers or when the account was erased already."""
    # Locked and read afresh: a second erasure of the same account waits here, then finds
    # it erased.
    await session.refresh(user, with_for_update=True)
    plan = await erasure_plan(session, user)
    if plan.already_erased:
        raise exc.AlreadyErased()
    if plan.blockers:
        raise exc.ErasureBlocked(
            details={"blockers": [b.model_dump(mode="json") for b in plan.blockers]}
        )
    email = user.email
    tenant_ids = [tenant.id for tenant in await studios_holding(session, user)]
    counts: dict[str, int] = {}
    attachments: list[str] = []
    for tenant_id in tenant_ids:
        async with tenancy.scope(session, tenant_id):
            attachments += await _erase_in_studio(session, settings, user, email, tenant_id, counts)
    # The append-only tables (chat messages, membership history) after the studios: the
    # attachments' keys were read above, before this clears them.
    history = await repository.erase_history(session, user.id, email, ERASED_NAME, ERASED_MESSAGE)
    counts["chat_messages"], counts["chat_guests"], counts["membership_history"] = (
        int(history[0]),
        int(history[1]),
        int(history[2]),
    )
    async with tenancy.scope(session, None):
        await _erase_notifications(session, user, email, None, counts)
    for model, column in (
        (RefreshToken, RefreshToken.user_id),
        (VerificationCode, VerificationCode.user_id),
        (PushSubscription, PushSubscription.user_id),
        (IdempotencyRecord, IdempotencyRecord.user_id),
    ):
        result = await session.execute(delete(model).where(column == user.id))
        counts[model.__tablename__] = result.rowcount  # type: ignore[attr-defined]
    user.email = erased_email(user.id)
    user.first_name, user.last_name = "Erased", "member"
    user.phone = user.profile_image_url = user.password_hash = None
    user.preferences = {}
    user.status = "erased"
    user.email_verified_at = user.last_login_at = None
    user.is_platform_owner = False
    user.calendar_feed_version += 1
    record = ErasureRecord(user_id=user.id, requested_by=requested_by, reason=reason, counts=counts)
    session.add(record)
    await session.flush()
    await session.refresh(record)
    storage = get_storage(settings)
    for key in attachments:
        await storage.delete(key)
    return ErasureRecordOut.model_validate(record, from_attributes=True)


async def erase_self(
    session: AsyncSession, settings: Settings, user: User, password: str
) -> ErasureRecordOut:
    """A signed-in person erases their own account, proving their password."""
    if not security.verify_password(settings, user.password_hash, password):
        raise WrongPassword(details={"field": "password"})
    return await erase_user(session, settings, user, requested_by="self")


# --- the operator ------------------------------------------------------------------------


async def user_for_operator(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise exc.UserNotFound()
    return user


async def find_users(session: AsyncSession, email_part: str, limit: int = 20) -> list[UserFound]:
    """Accounts whose email contains this text (the operator looking someone up)."""
    text = email_part.strip().lower()
    if not text:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    users = await session.scalars(
        select(User).where(User.email.like(pattern, escape="\\")).order_by(User.email).limit(limit)
    )
    return [UserFound.model_validate(u, from_attributes=True) for u in users]


async def records_for(session: AsyncSession, user_id: uuid.UUID) -> list[ErasureRecordOut]:
    rows = await session.scalars(select(ErasureRecord).where(ErasureRecord.user_id == user_id))
    return [ErasureRecordOut.model_validate(r, from_attributes=True) for r in rows]
