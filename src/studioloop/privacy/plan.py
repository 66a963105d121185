"""The erasure plan: what erasing a person would erase, what is kept (why, and until
when), and what blocks it. Read by `service` (which refuses while anything blocks) and
shown as is by the API and the pages.

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

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import MemberNote, RefreshToken, User, UserTenantRole
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.booking.models import Booking
from studioloop.chat.models import ChatMessage
from studioloop.credits.models import CreditTransaction
from studioloop.db import tenancy
from studioloop.notifications.models import PushSubscription
from studioloop.payments.models import Payment
from studioloop.privacy import repository
from studioloop.privacy.schemas import Blocker, ErasedItem, ErasurePlan, KeptItem
from studioloop.scheduling.models import ClassSchedule
from studioloop.tenants.models import Tenant

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
                    studio_slug=tenant.slug,
                    reason=f"A renewal of your {plan} membership is unpaid. "
                    "Pay it or cancel the membership first.",
                )
            )
        elif subscription.status == "incomplete":
            tally.blockers.append(
                Blocker(
                    code="PENDING_PAYMENT",
                    studio=tenant.name,
                    studio_slug=tenant.slug,
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
                    studio_slug=tenant.slug,
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
                studio_slug=tenant.slug,
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
                studio_slug=tenant.slug,
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
                studio_slug=tenant.slug,
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
                    studio_slug=tenant.slug,
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


async def studios_holding(session: AsyncSession, user: User) -> list[Tenant]:
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
    for tenant in await studios_holding(session, user):
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
