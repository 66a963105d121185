"""Payments: starting a checkout, receiving webhooks, and the status state machine.

A webhook is verified and stored (once per provider event id) in the request that
receives it, and processed by a job deferred in that same transaction: the provider gets
its 200 quickly, and a replayed or duplicated event changes nothing. Processing locks the
payment row, so two events for one payment apply one after the other, and a transition
the state machine does not allow (a late "failed" after "succeeded") is recorded on the
event as ignored, never applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.config import Settings
from studioloop.core import metrics
from studioloop.core.pagination import newest_first
from studioloop.credits import service as credits
from studioloop.credits.exceptions import PackageNotForSale, PackageNotFound
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.jobs.defer import defer_in_transaction
from studioloop.payments import exceptions as exc, fulfilment, job_names, payouts, providers
from studioloop.payments.models import Payment, PaymentEvent, WebhookEvent
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef

# Which status may follow which. Refund states arrive with refunds.
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"requires_action", "succeeded", "failed", "canceled"},
    "requires_action": {"succeeded", "failed", "canceled"},
    "succeeded": {"partially_refunded", "refunded"},
    "partially_refunded": {"partially_refunded", "refunded"},
    "failed": set(),
    "canceled": set(),
    "refunded": set(),
}
EVENT_STATUS = {
    providers.SUCCEEDED: "succeeded",
    providers.FAILED: "failed",
    providers.CANCELED: "canceled",
    providers.REQUIRES_ACTION: "requires_action",
}


def _now() -> datetime:
    return datetime.now(UTC)


def provider_for(tenant_settings: Mapping[str, object]) -> str:
    """The studio's payment provider (tenant setting `payment_provider`): `stripe`, `yoco`,
    or the built-in `sandbox` by default."""
    name = tenant_settings.get("payment_provider", "sandbox")
    return name if isinstance(name, str) else "sandbox"


async def start_credit_purchase(
    session: AsyncSession,
    settings: Settings,
    tenant: TenantRef,
    user: User,
    package_id: uuid.UUID,
    base_url: str,
) -> tuple[Payment, str]:
    """A pending payment for a credit package, and the checkout address to pay it at."""
    package = await credits.get_package(session, package_id)
    if not package.is_active:
        raise PackageNotFound()
    if package.price <= 0:
        # Packs priced 0 could be made before prices had to be positive; a checkout cannot
        # take nothing, and free credits are the studio's to give as an adjustment.
        raise PackageNotForSale()
    tenant_settings = await tenants_service.settings_of(session, tenant.id)
    payment = Payment(
        tenant_id=tenant.id,
        user_id=user.id,
        purpose="credit_pack",
        package_id=package.id,
        description=f"{package.credits} credits: {package.name}",
        amount=package.price,
        currency=tenant.currency,
    )
    await open_checkout(session, settings, tenant_settings, payment, base_url)
    assert payment.checkout_url is not None
    return payment, payment.checkout_url


async def open_checkout(
    session: AsyncSession,
    settings: Settings,
    tenant_settings: Mapping[str, object],
    payment: Payment,
    base_url: str,
    *,
    save_method: bool = False,
    customer_email: str | None = None,
    platform_fee: int | None = None,
) -> None:
    """Store a new payment (pending) with the studio's provider and open its checkout;
    the address to pay at is then `payment.checkout_url`. With `save_method` the card is
    kept (where the provider can) for charges without the member. `platform_fee` replaces
    the platform's usual fee (a marketplace booking's commission)."""
    provider = await providers.load(
        session, provider_for(tenant_settings), settings, tenant_settings
    )
    payment.provider = provider.name
    payment.platform_collected = provider.collects_for_platform
    usual_fee = payouts.platform_fee(settings, payment.amount)
    payment.platform_fee = (
        (usual_fee if platform_fee is None else platform_fee)
        if provider.charges_platform_fee
        else 0
    )
    session.add(payment)
    await session.flush()
    checkout = await provider.create_checkout(
        providers.CheckoutRequest(
            payment_id=payment.id,
            tenant_id=payment.tenant_id,
            amount=payment.amount,
            currency=payment.currency,
            description=payment.description,
            platform_fee=payment.platform_fee,
            save_method=save_method,
            customer_email=customer_email,
        ),
        base_url,
    )
    payment.provider_reference = checkout.reference
    payment.checkout_url = checkout.url
    session.add(
        PaymentEvent(
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            from_status=None,
            to_status="pending",
            source="api",
            detail={"checkout": checkout.reference},
        )
    )
    await session.flush()
    await session.refresh(payment)


async def get_payment(
    session: AsyncSession, payment_id: uuid.UUID, *, lock: bool = False
) -> Payment:
    query = select(Payment).where(Payment.id == payment_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    payment = await session.scalar(query)
    if payment is None:
        raise exc.PaymentNotFound()
    return payment


async def list_payments(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    purpose: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Payment], str | None]:
    """The studio's payments, newest first (one member's with `user_id`; made in
    `since` <= created_at < `until` when given)."""
    query = select(Payment)
    if user_id is not None:
        query = query.where(Payment.user_id == user_id)
    if status is not None:
        query = query.where(Payment.status == status)
    if purpose is not None:
        query = query.where(Payment.purpose == purpose)
    if since is not None:
        query = query.where(Payment.created_at >= since)
    if until is not None:
        query = query.where(Payment.created_at < until)
    return await newest_first(
        session, query, Payment.created_at, Payment.id, cursor=cursor, limit=limit
    )


# --- webhooks ------------------------------------------------------------------------------


async def receive_webhook(
    session: AsyncSession,
    settings: Settings,
    provider_name: str,
    body: bytes,
    headers: Mapping[str, str],
) -> bool:
    """Verify and store a webhook; True if it had been received before (nothing to do)."""
    provider = await providers.for_webhook(session, provider_name, settings, body)
    event = provider.verify_webhook(body, headers)
    stored = await session.scalar(
        insert(WebhookEvent)
        .values(
            provider=provider.name,
            event_id=event.id,
            event_type=event.type,
            payload=body.decode(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(WebhookEvent.id)
    )
    if stored is None:
        return True
    await defer_in_transaction(
        session, job_names.PROCESS_WEBHOOK_EVENT, webhook_event_id=str(stored)
    )
    return False


async def process_webhook(
    session: AsyncSession, settings: Settings, event_row_id: uuid.UUID
) -> str:
    """Apply one stored webhook event, once. Returns what happened (also stored on it)."""
    stored = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.id == event_row_id).with_for_update()
    )
    if stored is None:
        return "missing"
    if stored.processed_at is not None:
        return stored.outcome or "processed"
    outcome = await _apply(session, settings, stored)
    stored.processed_at, stored.outcome = _now(), outcome
    await session.flush()
    delay = (stored.processed_at - stored.received_at).total_seconds()
    metrics.count_on_commit(
        session, partial(metrics.WEBHOOK_DELAY.labels(stored.provider).observe, delay)
    )
    return outcome


async def _apply(session: AsyncSession, settings: Settings, stored: WebhookEvent) -> str:
    event = providers.read_stored_event(stored.provider, stored.payload)
    to_status = EVENT_STATUS.get(event.type)
    if to_status is None:
        return "ignored: unknown type"  # acknowledged, nothing to do
    try:
        tenant_id = uuid.UUID(event.metadata["tenant_id"])
        payment_id = uuid.UUID(event.metadata["payment_id"])
    except (KeyError, ValueError):
        return "ignored: no payment in metadata"
    await enter_tenant_for_transaction(session, tenant_id)
    try:
        payment = await get_payment(session, payment_id, lock=True)
    except exc.PaymentNotFound:
        return "ignored: unknown payment"
    if payment.provider != stored.provider or payment.provider_reference != event.reference:
        return "ignored: reference mismatch"
    if to_status == payment.status:
        return "ignored: already " + to_status
    if to_status not in TRANSITIONS[payment.status]:
        return f"ignored: {payment.status} cannot become {to_status}"
    await change_status(session, settings, payment, to_status, source="webhook", event_id=event.id)
    return f"applied: {to_status}"


async def change_status(
    session: AsyncSession,
    settings: Settings,
    payment: Payment,
    to_status: str,
    *,
    source: str,
    event_id: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Move a (locked) payment to `to_status`, appending the change to its history."""
    session.add(
        PaymentEvent(
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            from_status=payment.status,
            to_status=to_status,
            source=source,
            provider_event_id=event_id,
            detail=detail or {},
        )
    )
    payment.status = to_status
    if to_status in metrics.PAYMENT_OUTCOME_STATUSES:
        metrics.count_on_commit(
            session, metrics.PAYMENT_OUTCOMES.labels(payment.provider, to_status).inc
        )
    if to_status == "succeeded":
        payment.succeeded_at = _now()
        await payouts.record_payment(session, settings, payment)
        await fulfilment.succeeded(session, settings, payment)
    elif to_status in ("failed", "canceled"):
        await fulfilment.closed(session, settings, payment)
    await session.flush()
