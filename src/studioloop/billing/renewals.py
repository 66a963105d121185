"""Renewing memberships, and dunning when a renewal is not paid.

Every quarter of an hour the job takes the studio's subscriptions whose period has ended
(or whose retry is due), each locked and skipped if another worker has it:

- set to cancel at the period's end: it ends;
- a downgrade waiting: the new plan is what renews;
- a saved card (the provider can charge without the member): it is charged, and a
  success starts the next period through the payment's normal path (receipt, credits);
- otherwise the member is sent a payment link for the renewal.

An unpaid renewal makes the membership `past_due` (still honoured) and is retried after
RETRY_DELAYS; when they run out it is `suspended` (no longer honoured) until paid. A
paused membership is not renewed while the pause runs (its period was extended).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.billing import service
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.config import Settings
from studioloop.core.logging import get_logger
from studioloop.core.money import format_money
from studioloop.notifications import service as notifications
from studioloop.payments import (
    exceptions as payment_errors,
    public as payments_public,
    service as payments,
)
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service
from studioloop.usage import service as usage

logger = get_logger(__name__)
# After a failed renewal: retry one, three and five days later, then suspend.
RETRY_DELAYS = (timedelta(days=1), timedelta(days=3), timedelta(days=5))
# Members hear this long before a renewal what it will cost.
RENEWAL_NOTICE = timedelta(days=3)
BATCH = 100


def _now() -> datetime:
    return datetime.now(UTC)


async def renew_due(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    """Renew (or retry, or end) the due subscriptions of the studio in context."""
    now = now or _now()
    due = list(
        await session.scalars(
            select(Subscription)
            .where(
                Subscription.status.in_(("active", "past_due")),
                Subscription.current_period_end <= now,
                or_(Subscription.next_attempt_at.is_(None), Subscription.next_attempt_at <= now),
            )
            .order_by(Subscription.current_period_end)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    for subscription in due:
        await _renew(session, settings, subscription, now)
    return len(due)


async def _renew(
    session: AsyncSession, settings: Settings, subscription: Subscription, now: datetime
) -> None:
    if subscription.cancel_at_period_end:
        subscription.status, subscription.canceled_at = "canceled", now
        await session.flush()
        await service.tell(session, subscription, "membership_ended")
        return
    ending_plan = await service.get_plan(session, subscription.plan_id)
    if subscription.next_plan_id is not None:
        subscription.plan_id, subscription.next_plan_id = subscription.next_plan_id, None
    plan = await service.get_plan(session, subscription.plan_id)
    payment = await _renewal_payment(session, subscription, ending_plan, plan)
    if subscription.payment_method_ref and subscription.provider:
        if await _charge_saved(session, settings, subscription, payment):
            return
    else:
        await _send_payment_link(session, settings, subscription, plan, payment)
    await _failed(session, subscription, plan, now)


async def _renewal_payment(
    session: AsyncSession,
    subscription: Subscription,
    ending_plan: MembershipPlan,
    plan: MembershipPlan,
) -> Payment:
    """The next period's price, plus the ending period's usage past its soft caps at the
    prices of the plan that period was on (then the payment has lines)."""
    tenant = await tenants_service.get_tenant(session, subscription.tenant_id)
    overage = (
        await usage.overage_lines(
            session, subscription.user_id, ending_plan.usage_caps, subscription.current_period_start
        )
        if subscription.current_period_start is not None
        else []
    )
    description = f"{plan.name} membership, renewal"
    price = {"description": description, "quantity": "1", "unit_amount": plan.price}
    return Payment(
        tenant_id=subscription.tenant_id,
        user_id=subscription.user_id,
        purpose="subscription",
        subscription_id=subscription.id,
        plan_id=plan.id,
        description=f"{description}, with usage" if overage else description,
        amount=plan.price + sum(int(line["amount"]) for line in overage),
        currency=tenant.currency,
        lines=[{**price, "amount": plan.price}, *overage] if overage else [],
    )


async def _charge_saved(
    session: AsyncSession, settings: Settings, subscription: Subscription, payment: Payment
) -> bool:
    """Charge the saved card; True when paid (the next period has started)."""
    assert subscription.provider and subscription.payment_method_ref
    payment.provider = subscription.provider
    session.add(payment)
    await session.flush()
    try:
        tenant_settings = await tenants_service.settings_of(session, subscription.tenant_id)
        provider = await payments_public.load_provider(
            session, subscription.provider, settings, tenant_settings
        )
        payment.platform_collected = provider.collects_for_platform
        if provider.charges_platform_fee:
            payment.platform_fee = payments_public.platform_fee(settings, payment.amount)
        reference, outcome = await provider.charge_saved(
            subscription.payment_method_ref,
            payments_public.CheckoutRequest(
                payment_id=payment.id,
                tenant_id=payment.tenant_id,
                amount=payment.amount,
                currency=payment.currency,
                description=payment.description,
                platform_fee=payment.platform_fee,
            ),
        )
    except (payment_errors.ProviderUnavailable, payment_errors.ProviderRejected) as error:
        logger.warning("renewal charge failed", subscription=str(subscription.id), error=str(error))
        reference, outcome = None, payments_public.FAILED
    payment.provider_reference = reference
    status = payments.EVENT_STATUS[outcome]
    await payments.change_status(
        session, settings, payment, status, source="job", detail={"renewal": True}
    )
    return status == "succeeded"


async def _send_payment_link(
    session: AsyncSession,
    settings: Settings,
    subscription: Subscription,
    plan: MembershipPlan,
    payment: Payment,
) -> None:
    """No saved card: the member pays the renewal through a checkout, like the first time.
    One open link at a time; the reminders that follow point to it again."""
    open_payment = await session.scalar(
        select(Payment).where(
            Payment.subscription_id == subscription.id,
            Payment.status.in_(("pending", "requires_action")),
            Payment.checkout_url.is_not(None),
        )
    )
    if open_payment is None:
        base_url = settings.base_url.rstrip("/")
        tenant = await tenants_service.get_tenant(session, subscription.tenant_id)
        await payments.open_checkout(session, settings, tenant.settings or {}, payment, base_url)
        open_payment = payment
    await service.tell(
        session,
        subscription,
        "membership_renewal_due",
        plan=plan.name,
        amount=format_money(open_payment.amount, open_payment.currency),
        checkout_url=open_payment.checkout_url or "",
    )


async def _failed(
    session: AsyncSession, subscription: Subscription, plan: MembershipPlan, now: datetime
) -> None:
    subscription.failed_attempts += 1
    if subscription.failed_attempts > len(RETRY_DELAYS):
        subscription.status, subscription.next_attempt_at = "suspended", None
        await session.flush()
        await service.tell(session, subscription, "membership_suspended", plan=plan.name)
        return
    subscription.status = "past_due"
    subscription.next_attempt_at = now + RETRY_DELAYS[subscription.failed_attempts - 1]
    await session.flush()
    await service.tell(
        session,
        subscription,
        "membership_payment_failed",
        plan=plan.name,
        retry=subscription.next_attempt_at.strftime("%d %b %Y"),
    )


async def announce_upcoming(
    session: AsyncSession, now: datetime | None = None, ahead: timedelta = RENEWAL_NOTICE
) -> int:
    """Tell members whose membership renews within `ahead` what will happen and for how
    much, once per period, so a charge never comes as a surprise."""
    now = now or _now()
    upcoming = list(
        await session.scalars(
            select(Subscription).where(
                Subscription.status == "active",
                Subscription.cancel_at_period_end.is_(False),
                Subscription.current_period_end > now,
                Subscription.current_period_end <= now + ahead,
            )
        )
    )
    keyed = {
        f"membership_renewing:{s.id}:{s.current_period_end.date().isoformat()}": s
        for s in upcoming
        if s.current_period_end is not None
    }
    sent = await notifications.already_sent(session, list(keyed))
    for key, subscription in keyed.items():
        if key in sent:
            continue
        plan = await service.get_plan(session, subscription.next_plan_id or subscription.plan_id)
        tenant = await tenants_service.get_tenant(session, subscription.tenant_id)
        assert subscription.current_period_end is not None
        renews_on = subscription.current_period_end.astimezone(ZoneInfo(tenant.timezone))
        await service.tell(
            session,
            subscription,
            "membership_renewing",
            dedup_key=key,
            plan=plan.name,
            renews_on=renews_on.strftime("%d %b %Y"),
            amount=format_money(plan.price, tenant.currency),
            saved_card=bool(subscription.payment_method_ref),
        )
    return len(keyed) - len(sent)
