"""Erasure (GDPR / POPIA): what erasing a person would do (the plan), and doing it.

A person's rows live in many studios and in platform tables. The plan and the erasure ask
`erasure_tenants` (a SECURITY DEFINER function) which studios hold anything of theirs,
then work one studio at a time under row-level security (`tenancy.scope`). Financial
records, the credit ledger and bookings stay, pointing at the anonymised account, so every
sum, receipt and count is the same after as before. What happens to each column is listed
once, in `coverage.py`.

Upcoming bookings block an erasure instead of being cancelled by it: the member cancels
them first and sees the studio's cancellation terms (a late cancellation may forfeit its
credits), rather than an erasure deciding that for them and mailing the notice to an
address that no longer exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.exceptions import WrongPassword
from studioloop.accounts.models import (
    MemberNote,
    RefreshToken,
    User,
    UserTenantRole,
    VerificationCode,
)
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.booking.models import Booking
from studioloop.chat.models import ChatMessage, ChatReadMarker, ChatRoom
from studioloop.config import Settings
from studioloop.core import security
from studioloop.credits.models import CreditTransaction
from studioloop.db import tenancy
from studioloop.db.idempotency import IdempotencyRecord
from studioloop.notifications.models import (
    EmailAttachment,
    Notification,
    NotificationPreference,
    PushSubscription,
)
from studioloop.payments.models import Payment
from studioloop.privacy import exceptions as exc, repository
from studioloop.privacy.models import ErasureRecord
from studioloop.privacy.schemas import (
    Blocker,
    ErasedItem,
    ErasurePlan,
    ErasureRecordOut,
    KeptItem,
    UserFound,
)
from studioloop.scheduling.models import ClassSchedule
from studioloop.storage import images
from studioloop.storage.service import get_storage
from studioloop.tenants.models import Tenant

ERASED_NAME = "Erased member"
ERASED_MESSAGE = "(message erased)"
ERASED_SUBJECT = "(erased)"
# Financial records are kept this long from the payment (tax law in South Africa and most
# of the EU asks for 5 to 7 years; the longest is kept).
FINANCIAL_RETENTION_YEARS = 7
# A checkout started this recently may still be paid; an older pending one was abandoned.
PAYMENT_IN_PROGRESS = timedelta(hours=24)
LIVE_SUBSCRIPTIONS = ("incomplete", "active", "past_due")
UPCOMING_STATUSES = ("confirmed", "waitlisted")


def _now() -> datetime:
    return datetime.now(UTC)


def erased_email(user_id: uuid.UUID) -> str:
    return f"erased-{user_id}@erased.invalid"


def _years_later(moment: datetime, years: int) -> date:
    day = moment.date()
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    return int(await session.scalar(statement) or 0)


# --- the plan ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """What one pass over the person's studios found."""

    blockers: list[Blocker] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    last_payment: datetime | None = None

    def add(self, category: str, amount: int) -> None:
        self.counts[category] = self.counts.get(category, 0) + amount


async def _studio_facts(
    session: AsyncSession, user: User, tenant: Tenant, tally: _Tally, now: datetime
) -> None:
    """Blockers and counts in one studio (its context entered by the caller)."""
    mine = and_(Subscription.tenant_id == tenant.id, Subscription.user_id == user.id)
    live = await session.execute(
        select(Subscription, MembershipPlan.name)
        .join(MembershipPlan, MembershipPlan.id == Subscription.plan_id)
        .where(mine, Subscription.status.in_(LIVE_SUBSCRIPTIONS))
    )
    for subscription, plan in live:
        ends = subscription.current_period_end
        if subscription.status == "past_due":
            tally.blockers.append(
                Blocker(
                    code="MONEY_OWED",
                    studio=tenant.name,
                    reason=f"A renewal of your {plan} membership is unpaid. "
                    "Pay it or cancel the membership first.",
                )
            )
        elif subscription.status == "incomplete":
            tally.blockers.append(
                Blocker(
                    code="PENDING_PAYMENT",
                    studio=tenant.name,
                    reason=f"The first payment of your {plan} membership is not in yet. "
                    "Finish or abandon it first.",
                )
            )
        else:
            ending = subscription.cancel_at_period_end and ends is not None
            tally.blockers.append(
                Blocker(
                    code="ACTIVE_MEMBERSHIP",
                    studio=tenant.name,
                    until=ends.date() if ending and ends else None,
                    reason=(
                        f"Your {plan} membership runs until {ends:%d %b %Y}; "
                        "you can delete your account once it has ended."
                        if ending and ends
                        else f"Your {plan} membership is active. Cancel it first; "
                        "you can delete your account once it has ended."
                    ),
                )
            )
    pending = await _count(
        session,
        select(func.count()).where(
            Payment.tenant_id == tenant.id,
            Payment.user_id == user.id,
            Payment.status.in_(("pending", "requires_action")),
            Payment.created_at > now - PAYMENT_IN_PROGRESS,
        ),
    )
    if pending:
        tally.blockers.append(
            Blocker(
                code="PENDING_PAYMENT",
                studio=tenant.name,
                reason="A payment is in progress. Finish it or wait a day for it to lapse.",
            )
        )
    held = await _count(
        session,
        select(func.count()).where(
            Booking.tenant_id == tenant.id, Booking.user_id == user.id, Booking.status == "held"
        ),
    )
    if held:
        tally.blockers.append(
            Blocker(
                code="CARD_HOLD",
                studio=tenant.name,
                reason="A seat is held for you while you pay by card. "
                "Pay or cancel that booking first.",
            )
        )
    upcoming = await _count(
        session,
        select(func.count())
        .select_from(Booking)
        .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
        .where(
            Booking.tenant_id == tenant.id,
            Booking.user_id == user.id,
            Booking.status.in_(UPCOMING_STATUSES),
            ClassSchedule.start_time > now,
        ),
    )
    if upcoming:
        tally.blockers.append(
            Blocker(
                code="UPCOMING_BOOKINGS",
                studio=tenant.name,
                reason=f"You have {upcoming} upcoming booking{'s' if upcoming > 1 else ''}. "
                "Cancel your upcoming bookings first (the studio's cancellation terms apply).",
            )
        )
    owner = await session.scalar(
        select(UserTenantRole.id).where(
            UserTenantRole.tenant_id == tenant.id,
            UserTenantRole.user_id == user.id,
            UserTenantRole.role == "owner",
            UserTenantRole.status == "active",
        )
    )
    if owner is not None and tenant.status != "cancelled":
        others = await _count(
            session,
            select(func.count()).where(
                UserTenantRole.tenant_id == tenant.id,
                UserTenantRole.role == "owner",
                UserTenantRole.status == "active",
                UserTenantRole.user_id != user.id,
            ),
        )
        if not others:
            tally.blockers.append(
                Blocker(
                    code="STUDIO_OWNER",
                    studio=tenant.name,
                    reason="You own this studio. Make someone else its owner, "
                    "or close the studio, first.",
                )
            )
    tally.add(
        "bookings",
        await _count(
            session,
            select(func.count()).where(Booking.tenant_id == tenant.id, Booking.user_id == user.id),
        ),
    )
    tally.add(
        "credit_entries",
        await _count(
            session,
            select(func.count()).where(
                CreditTransaction.tenant_id == tenant.id, CreditTransaction.user_id == user.id
            ),
        ),
    )
    tally.add(
        "memberships",
        await _count(session, select(func.count()).where(mine)),
    )
    tally.add(
        "payments",
        await _count(
            session,
            select(func.count()).where(Payment.tenant_id == tenant.id, Payment.user_id == user.id),
        ),
    )
    latest = await session.scalar(
        select(func.max(func.coalesce(Payment.succeeded_at, Payment.created_at))).where(
            Payment.tenant_id == tenant.id, Payment.user_id == user.id
        )
    )
    if latest is not None and (tally.last_payment is None or latest > tally.last_payment):
        tally.last_payment = latest
    tally.add(
        "staff_notes",
        await _count(
            session,
            select(func.count()).where(
                MemberNote.tenant_id == tenant.id, MemberNote.user_id == user.id
            ),
        ),
    )
    tally.add(
        "chat_messages",
        await _count(
            session,
            select(func.count()).where(
                ChatMessage.tenant_id == tenant.id, ChatMessage.sender_user_id == user.id
            ),
        ),
    )
    tally.add(
        "studio_memberships",
        await _count(
            session,
            select(func.count()).where(
                UserTenantRole.tenant_id == tenant.id, UserTenantRole.user_id == user.id
            ),
        ),
    )


async def _tenants(session: AsyncSession, user: User) -> list[Tenant]:
    await session.flush()
    ids = await repository.tenants_holding(session, user.id, user.email)
    if not ids:
        return []
    return list(
        await session.scalars(select(Tenant).where(Tenant.id.in_(ids)).order_by(Tenant.name))
    )


async def erasure_plan(session: AsyncSession, user: User) -> ErasurePlan:
    """What erasing this person would erase, keep (why, until when), and what blocks it."""
    now = _now()
    tally = _Tally()
    if user.status == "erased":
        return ErasurePlan(
            user_id=user.id, already_erased=True, can_erase=False, erased=[], kept=[], blockers=[]
        )
    if user.is_platform_owner:
        tally.blockers.append(
            Blocker(
                code="PLATFORM_OPERATOR",
                reason="This account runs the platform. Hand that role to someone else first.",
            )
        )
    for tenant in await _tenants(session, user):
        async with tenancy.scope(session, tenant.id):
            await _studio_facts(session, user, tenant, tally, now)
    devices = await _count(session, select(func.count()).where(PushSubscription.user_id == user.id))
    sessions = await _count(
        session,
        select(func.count()).where(
            RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None)
        ),
    )
    counts = tally.counts
    erased = [
        ErasedItem(
            category="profile",
            description="Your name, email address, phone number, photo and preferences",
            count=1,
        ),
        ErasedItem(
            category="sign_in",
            description="Your password and every signed-in session; you cannot sign in again",
            count=sessions,
        ),
        ErasedItem(
            category="devices",
            description="Browser notifications on your devices and your calendar feed link",
            count=devices,
        ),
        ErasedItem(
            category="messages",
            description="What you wrote in chats (the conversations keep an empty place) "
            "and the messages we sent you (their content and your address)",
            count=counts.get("chat_messages", 0),
        ),
        ErasedItem(
            category="staff_notes",
            description="Notes studio staff kept about you",
            count=counts.get("staff_notes", 0),
        ),
        ErasedItem(
            category="studio_profiles",
            description="Your studio memberships end; a teacher's bio and photo go",
            count=counts.get("studio_memberships", 0),
        ),
    ]
    kept = [
        KeptItem(
            category="bookings",
            description="Your past bookings and check-ins, under an anonymous account",
            reason="Studios' class counts and attendance stay correct; nothing names you",
            count=counts.get("bookings", 0),
        ),
        KeptItem(
            category="credits",
            description="Your credit history, under an anonymous account",
            reason="The studio's credit ledger must add up; nothing names you",
            count=counts.get("credit_entries", 0),
        ),
        KeptItem(
            category="memberships",
            description="Your ended memberships, under an anonymous account",
            reason="Payments and renewals point at them; nothing names you",
            count=counts.get("memberships", 0),
        ),
    ]
    if counts.get("payments"):
        assert tally.last_payment is not None
        kept.append(
            KeptItem(
                category="payments",
                description="Your payments and receipts: amounts, dates, receipt numbers and "
                "what was bought. No name or email is stored on them, only the anonymous "
                "account",
                reason=f"Financial records are kept {FINANCIAL_RETENTION_YEARS} years from "
                "the payment, as tax law requires",
                count=counts["payments"],
                keep_until=_years_later(tally.last_payment, FINANCIAL_RETENTION_YEARS),
            )
        )
    return ErasurePlan(
        user_id=user.id,
        already_erased=False,
        can_erase=not tally.blockers,
        erased=erased,
        kept=kept,
        blockers=tally.blockers,
    )


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
    plan = await erasure_plan(session, user)
    if plan.already_erased:
        raise exc.AlreadyErased()
    if plan.blockers:
        raise exc.ErasureBlocked(
            details={"blockers": [b.model_dump(mode="json") for b in plan.blockers]}
        )
    email = user.email
    tenant_ids = [tenant.id for tenant in await _tenants(session, user)]
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
