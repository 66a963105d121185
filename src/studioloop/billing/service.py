"""Membership plans, and the life of a subscription: start, pay, renew, pause, change,
cancel.

Money moves through the payments domain (a checkout, a webhook, the state machine); a
payment that succeeds for a subscription calls `payment_succeeded` here, once, in the same
transaction as the payment's own change. Renewals are our own job (billing/renewals.py,
docs/decisions/0002-own-renewal-job.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.billing import exceptions as exc
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.billing.schemas import PlanIn, PlanUpdate
from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.notifications import service as notifications
from studioloop.payments import (
    exceptions as payment_errors,
    public as payments_public,
    service as payments,
)
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef

MAX_PAUSE = timedelta(days=90)
LIVE = ("incomplete", "active", "past_due")


def _now() -> datetime:
    return datetime.now(UTC)


def add_interval(moment: datetime, interval: str, count: int = 1) -> datetime:
    """One month (or year) later, on the same day where it exists (31 Jan -> 28/29 Feb)."""
    months = count * (12 if interval == "year" else 1)
    later: datetime = moment + relativedelta(months=months)
    return later


# --- plans -------------------------------------------------------------------------------


async def create_plan(session: AsyncSession, tenant_id: uuid.UUID, data: PlanIn) -> MembershipPlan:
    plan = MembershipPlan(tenant_id=tenant_id, **data.model_dump())
    try:
        async with session.begin_nested():
            session.add(plan)
            await session.flush()
    except IntegrityError as error:
        raise exc.PlanNameTaken(details={"field": "name"}) from error
    await session.refresh(plan)
    return plan


async def list_plans(session: AsyncSession, *, include_inactive: bool) -> list[MembershipPlan]:
    query = select(MembershipPlan).order_by(
        MembershipPlan.sort_order, MembershipPlan.price, MembershipPlan.name
    )
    if not include_inactive:
        query = query.where(MembershipPlan.is_active)
    return list(await session.scalars(query))


async def get_plan(
    session: AsyncSession, plan_id: uuid.UUID, *, on_sale: bool = False
) -> MembershipPlan:
    plan = await session.get(MembershipPlan, plan_id)
    if plan is None or (on_sale and not plan.is_active):
        raise exc.PlanNotFound()
    return plan


async def update_plan(
    session: AsyncSession, plan_id: uuid.UUID, changes: PlanUpdate
) -> MembershipPlan:
    plan = await get_plan(session, plan_id)
    for name, value in changes.model_dump(exclude_unset=True).items():
        if value is None and name not in ("description", "credits_per_period"):
            continue
        setattr(plan, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise exc.PlanNameTaken(details={"field": "name"}) from error
    await session.refresh(plan)
    return plan


async def move_plan(session: AsyncSession, plan_id: uuid.UUID, step: int) -> list[MembershipPlan]:
    """Move a plan one place up (`step` -1) or down (+1) in the studio's list; the list is
    numbered again from 0, so equal positions (every plan starts at 0) order once."""
    plan = await get_plan(session, plan_id)
    plans = await list_plans(session, include_inactive=True)
    at = plans.index(plan)
    to = min(max(at + step, 0), len(plans) - 1)
    plans.insert(to, plans.pop(at))
    for position, each in enumerate(plans):
        each.sort_order = position
    await session.flush()
    return plans


# --- subscriptions -----------------------------------------------------------------------


async def get_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, *, lock: bool = False
) -> Subscription:
    query = select(Subscription).where(Subscription.id == subscription_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    subscription = await session.scalar(query)
    if subscription is None:
        raise exc.SubscriptionNotFound()
    return subscription


async def list_subscriptions(
    session: AsyncSession, *, user_id: uuid.UUID | None, status: str | None
) -> list[Subscription]:
    query = select(Subscription).order_by(Subscription.created_at.desc())
    if user_id is not None:
        query = query.where(Subscription.user_id == user_id)
    if status is not None:
        query = query.where(Subscription.status == status)
    return list(await session.scalars(query.limit(500)))


async def live_subscription_of(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    subscription: Subscription | None = await session.scalar(
        select(Subscription).where(Subscription.user_id == user_id, Subscription.status.in_(LIVE))
    )
    return subscription


async def members_with_a_plan(session: AsyncSession) -> set[uuid.UUID]:
    """The studio's people whose membership runs now: active or past due (paid at least
    once and not ended; a checkout never paid does not count)."""
    query = select(Subscription.user_id).where(Subscription.status.in_(("active", "past_due")))
    return set(await session.scalars(query))


async def start(
    session: AsyncSession,
    settings: Settings,
    tenant: TenantRef,
    user: User,
    plan_id: uuid.UUID,
    base_url: str,
) -> tuple[Subscription, Payment]:
    """A new membership, waiting for its first payment (the checkout returned)."""
    plan = await get_plan(session, plan_id, on_sale=True)
    existing = await live_subscription_of(session, user.id)
    if existing is not None and existing.status != "incomplete":
        raise exc.AlreadySubscribed(details={"subscription_id": str(existing.id)})
    if existing is not None:  # an earlier checkout that was never paid: start afresh
        existing.status, existing.canceled_at = "canceled", _now()
        await session.flush()
    subscription = Subscription(tenant_id=tenant.id, user_id=user.id, plan_id=plan.id)
    session.add(subscription)
    await session.flush()
    payment = await _open_payment(
        session, settings, subscription, plan, plan.price, f"{plan.name} membership", base_url
    )
    subscription.provider = payment.provider
    await session.flush()
    await session.refresh(subscription)
    return subscription, payment


async def _open_payment(
    session: AsyncSession,
    settings: Settings,
    subscription: Subscription,
    plan: MembershipPlan,
    amount: int,
    description: str,
    base_url: str,
    *,
    upgrade: bool = False,
) -> Payment:
    tenant = await tenants_service.get_tenant(session, subscription.tenant_id)
    payment = Payment(
        tenant_id=subscription.tenant_id,
        user_id=subscription.user_id,
        purpose="subscription_upgrade" if upgrade else "subscription",
        subscription_id=subscription.id,
        plan_id=plan.id,
        description=description[:255],
        amount=amount,
        currency=tenant.currency,
    )
    user = await session.get(User, subscription.user_id)
    await payments.open_checkout(
        session,
        settings,
        tenant.settings or {},
        payment,
        base_url,
        save_method=True,
        customer_email=user.email if user else None,
    )
    return payment


async def payment_succeeded(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """A payment for this subscription came in: a period (first, renewal, or after a
    suspension) starts, or an upgrade takes effect. Called once per payment."""
    assert payment.subscription_id is not None
    subscription = await get_subscription(session, payment.subscription_id, lock=True)
    plan = await get_plan(session, payment.plan_id or subscription.plan_id)
    now = _now()
    if payment.checkout_url and payment.provider == subscription.provider:
        # Paid at a checkout (not charged to the saved card): it may have saved a card.
        await _keep_card(session, settings, subscription, payment)
    in_period = (
        subscription.status == "active"
        and subscription.current_period_end is not None
        and subscription.current_period_end > now
    )
    if payment.purpose == "subscription_upgrade" and in_period:
        await _upgrade_now(session, subscription, plan)
        receipt = await payments_public.issue_receipt(session, payment)
        await tell(
            session,
            subscription,
            "membership_upgraded",
            attachments=[
                await payments_public.receipt_attachment(session, settings, payment, receipt)
            ],
            plan=plan.name,
            amount=format_money(payment.amount, payment.currency),
            receipt_number=payments_public.receipt_number(receipt.number),
        )
        return
    if payment.purpose == "subscription_upgrade" or subscription.status == "canceled":
        # An upgrade paid once the period it was priced for is over (the membership lapsed
        # or ended), or a period paid after the membership ended (an abandoned first
        # checkout completed after a new one was started, a link paid after cancelling):
        # nothing to give for it, so the money goes back.
        await payments_public.defer_refund_in_full(
            session, payment, "Refunded automatically: the membership had ended"
        )
        await tell(
            session,
            subscription,
            "membership_payment_refunded",
            plan=plan.name,
            amount=format_money(payment.amount, payment.currency),
        )
        return
    continuing = subscription.status in ("active", "past_due") and subscription.current_period_end
    start = subscription.current_period_end if continuing else now
    assert start is not None
    subscription.plan_id = plan.id
    subscription.next_plan_id = None
    subscription.current_period_start = start
    subscription.current_period_end = add_interval(start, plan.interval)
    subscription.status = "active"
    subscription.failed_attempts = 0
    subscription.next_attempt_at = None
    await session.flush()
    if plan.credits_per_period:
        await credits.grant(
            session,
            subscription.tenant_id,
            subscription.user_id,
            plan.credits_per_period,
            source="grant",
            transaction_type="purchase",
            expires_at=subscription.current_period_end,
            reason=f"{plan.name} membership, {start:%d %b %Y}",
        )
    receipt = await payments_public.issue_receipt(session, payment)
    await tell(
        session,
        subscription,
        "membership_active",
        attachments=[await payments_public.receipt_attachment(session, settings, payment, receipt)],
        plan=plan.name,
        amount=format_money(payment.amount, payment.currency),
        period_end=subscription.current_period_end.strftime("%d %b %Y"),
        receipt_number=payments_public.receipt_number(receipt.number),
    )


async def _keep_card(
    session: AsyncSession, settings: Settings, subscription: Subscription, payment: Payment
) -> None:
    """The card this payment saved becomes the one renewals charge (the newest wins: a
    member who pays a renewal link with a new card has updated it). Without one, renewals
    go by payment link."""
    try:
        provider = await payments_public.load_provider(session, payment.provider, settings)
        saved = await provider.saved_method(payment.provider_reference or "")
    except (
        payment_errors.ProviderUnavailable,
        payment_errors.ProviderNotConfigured,
        payment_errors.UnknownProvider,
    ):
        saved = None  # keep what we had; the next renewal still has the link path
    if saved:
        subscription.payment_method_ref = saved


async def _upgrade_now(
    session: AsyncSession, subscription: Subscription, plan: MembershipPlan
) -> None:
    old = await get_plan(session, subscription.plan_id)
    subscription.plan_id, subscription.next_plan_id = plan.id, None
    await session.flush()
    extra = (plan.credits_per_period or 0) - (old.credits_per_period or 0)
    left, total = _remaining_share(subscription)
    extra_now = (extra * left + total // 2) // total  # to the nearest whole credit
    if extra_now > 0:
        await credits.grant(
            session,
            subscription.tenant_id,
            subscription.user_id,
            extra_now,
            source="grant",
            transaction_type="purchase",
            expires_at=subscription.current_period_end,
            reason=f"Upgrade to {plan.name}",
        )


def _remaining_share(subscription: Subscription) -> tuple[int, int]:
    """The part of the current period still to come, as whole seconds (numerator,
    denominator): integer arithmetic keeps prorated money exact."""
    assert subscription.current_period_start and subscription.current_period_end
    total = int(
        (subscription.current_period_end - subscription.current_period_start).total_seconds()
    )
    left = int((subscription.current_period_end - _now()).total_seconds())
    return max(0, min(left, total)), max(total, 1)


@dataclass(frozen=True)
class PlanChange:
    """What changing to `plan` does, decided once for the change itself and for a page
    that explains it first: `same` (keeps the plan; a waiting downgrade is dropped),
    `at_renewal` (a downgrade or the same price: from the next renewal, nothing charged)
    or `now` (an upgrade: `due` charged now, prorated for the rest of the period)."""

    current: MembershipPlan
    plan: MembershipPlan
    when: str
    due: int


async def quote_change(
    session: AsyncSession, subscription: Subscription, plan_id: uuid.UUID
) -> PlanChange:
    if subscription.status != "active" or subscription.cancel_at_period_end:
        raise exc.SubscriptionNotChangeable(details={"status": subscription.status})
    plan = await get_plan(session, plan_id, on_sale=True)
    current = await get_plan(session, subscription.plan_id)
    if plan.id == current.id:
        return PlanChange(current, plan, "same", 0)
    if plan.interval != current.interval:
        raise field_error("plan_id", "choose a plan with the same interval (month or year)")
    if plan.price <= current.price:
        return PlanChange(current, plan, "at_renewal", 0)
    left, total = _remaining_share(subscription)
    due = (plan.price - current.price) * left // total
    return PlanChange(current, plan, "now" if due > 0 else "at_renewal", max(due, 0))


async def change_plan(
    session: AsyncSession,
    settings: Settings,
    subscription: Subscription,
    plan_id: uuid.UUID,
    base_url: str,
) -> tuple[Payment | None, int]:
    """An upgrade is charged now, prorated for the rest of the period, and takes effect
    when paid; a downgrade (or the same price) takes effect at the next renewal."""
    change = await quote_change(session, subscription, plan_id)
    if change.when != "now":
        subscription.next_plan_id = change.plan.id if change.when == "at_renewal" else None
        await session.flush()
        return None, 0
    payment = await _open_payment(
        session,
        settings,
        subscription,
        change.plan,
        change.due,
        f"Upgrade to {change.plan.name} (prorated)",
        base_url,
        upgrade=True,
    )
    return payment, change.due


async def cancel(
    session: AsyncSession, subscription: Subscription, *, immediately: bool
) -> Subscription:
    """At the period's end by default (the member keeps what they paid for)."""
    if subscription.status == "canceled":
        raise exc.SubscriptionNotChangeable(details={"status": subscription.status})
    if subscription.cancel_at_period_end and not immediately:
        raise exc.SubscriptionNotChangeable(
            "This membership is already set to end when its period does.",
            details={"cancel_at_period_end": True},
        )
    if immediately or subscription.status in ("incomplete", "suspended"):
        subscription.status, subscription.canceled_at = "canceled", _now()
    else:
        subscription.cancel_at_period_end = True
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def keep(session: AsyncSession, subscription: Subscription) -> Subscription:
    """Undo a cancellation at the period's end while that period still runs: the
    membership renews again as before."""
    end = subscription.current_period_end
    if not subscription.cancel_at_period_end or subscription.status != "active":
        raise exc.SubscriptionNotChangeable(
            "This membership is not set to end.", details={"status": subscription.status}
        )
    if end is None or end <= _now():
        raise exc.SubscriptionNotChangeable(
            "This membership's period is over; join again instead.",
            details={"status": subscription.status},
        )
    subscription.cancel_at_period_end = False
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def payments_of(session: AsyncSession, subscription: Subscription) -> list[Payment]:
    """The subscription's payments, newest first: first period, renewals, upgrades."""
    query = select(Payment).where(Payment.subscription_id == subscription.id)
    return list(await session.scalars(query.order_by(Payment.created_at.desc()).limit(100)))


async def pause(
    session: AsyncSession, subscription: Subscription, first_day: date, back_on: date
) -> Subscription:
    """Freeze for a date range: no classes covered then, and the period (with its renewal)
    moves on by the length of the pause, so nothing paid for is lost."""
    if subscription.status != "active":
        raise exc.SubscriptionNotChangeable(details={"status": subscription.status})
    if subscription.paused_until is not None and subscription.paused_until > _now():
        raise exc.SubscriptionNotChangeable(
            "This membership already has a pause planned or running.",
            details={"paused_until": subscription.paused_until.isoformat()},
        )
    start = datetime.combine(first_day, time.min, UTC)
    end = datetime.combine(back_on, time.min, UTC)
    if first_day < _now().date():
        raise field_error("start", "a pause cannot start in the past")
    if end <= start or end - start > MAX_PAUSE:
        raise field_error("end", "the pause must end after it starts, within 90 days")
    assert subscription.current_period_end is not None
    if start > subscription.current_period_end:
        raise field_error("start", "a pause must start within the current period")
    subscription.paused_from, subscription.paused_until = start, end
    subscription.current_period_end += end - start
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def tell(
    session: AsyncSession,
    subscription: Subscription,
    template: str,
    attachments: Sequence[notifications.Attachment] = (),
    dedup_key: str | None = None,
    **context: Any,
) -> None:
    user = await session.get(User, subscription.user_id)
    if user is not None:
        await notifications.notify(
            session,
            template,
            tenant_id=subscription.tenant_id,
            user_id=user.id,
            context={"first_name": user.first_name, **context},
            attachments=attachments,
            dedup_key=dedup_key,
        )
