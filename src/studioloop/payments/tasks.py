"""Payment jobs: webhooks processed once each, automatic refunds, payouts, reconciliation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant
from studioloop.payments import (
    job_names,
    payouts,
    reconciliation,
    refunds,
    service,
)
from studioloop.payments.exceptions import (
    NothingToPayOut,
    ProviderNotConfigured,
    ProviderUnavailable,
    UnknownProvider,
)

logger = get_logger(__name__)


@job_app.task(
    name=job_names.PROCESS_WEBHOOK_EVENT, queue="payments", retry=DEFAULT_RETRY, pass_context=False
)
async def process_webhook_event(webhook_event_id: str) -> str:
    async with get_database().sessionmaker() as session:
        outcome = await service.process_webhook(
            session, get_settings(), uuid.UUID(webhook_event_id)
        )
        await session.commit()
    logger.info("webhook processed", webhook_event_id=webhook_event_id, outcome=outcome)
    return outcome


@job_app.task(
    name=job_names.REFUND_PAYMENT_IN_FULL, queue="payments", retry=DEFAULT_RETRY, pass_context=False
)
async def refund_payment_in_full(tenant_id: str, payment_id: str, reason: str) -> str:
    """Deferred by a cancelled paid booking, a payment too late for its seat, or one for a
    membership that had ended."""
    async with get_database().sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(tenant_id))
        outcome = await refunds.refund_in_full(
            session, get_settings(), uuid.UUID(payment_id), reason
        )
        await session.commit()
    logger.info("class payment refunded", payment_id=payment_id, outcome=outcome)
    return outcome


async def _pay_out(
    session: AsyncSession, tenant_id: uuid.UUID, tenant_settings: dict[str, Any]
) -> int:
    if not tenant_settings.get("stripe_account_id") or not tenant_settings.get(
        "automatic_payouts", True
    ):
        return 0
    try:
        await payouts.pay_out(session, get_settings(), tenant_id)
    except (NothingToPayOut, ProviderNotConfigured, ProviderUnavailable, UnknownProvider):
        return 0  # nothing owed, Stripe not set up on this platform, or down: next week
    return 1


@job_app.periodic(cron="0 6 * * 1", periodic_id="pay_out_studios")
@job_app.task(
    name="pay_out_studios",
    queue="payments",
    retry=DEFAULT_RETRY,
    queueing_lock="pay_out_studios",
    pass_context=False,
)
async def pay_out_studios(timestamp: int) -> int:
    """Mondays at 06:00 UTC: each studio with a connected Stripe account is sent what the
    platform owes it (studio setting `automatic_payouts`: false to pay out by hand)."""
    paid = await for_each_tenant(_pay_out)
    logger.info("payouts sent", studios=paid)
    return paid


@job_app.periodic(cron="*/15 * * * *", periodic_id="reconcile_payments")
@job_app.task(
    name="reconcile_payments",
    queue="payments",
    retry=DEFAULT_RETRY,
    queueing_lock="reconcile_payments",
    pass_context=False,
)
async def reconcile_payments(timestamp: int) -> int:
    """Every 15 minutes: payments whose webhook never came, settled with the provider."""
    changed = await for_each_tenant(reconciliation.reconcile_tenant)
    logger.info("payments reconciled", changed=changed)
    return changed
