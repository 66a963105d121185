"""Payment jobs: webhook events processed once each, class refunds, reconciliation."""

from __future__ import annotations

import uuid

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import set_tenant_context
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant
from studioloop.payments import class_payments, reconciliation, service

logger = get_logger(__name__)


@job_app.task(
    name="process_webhook_event", queue="payments", retry=DEFAULT_RETRY, pass_context=False
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
    name="refund_class_payment", queue="payments", retry=DEFAULT_RETRY, pass_context=False
)
async def refund_class_payment(tenant_id: str, payment_id: str, reason: str) -> str:
    """Deferred by a cancellation, or by a payment that came too late for its seat."""
    async with get_database().sessionmaker() as session:
        await set_tenant_context(session, uuid.UUID(tenant_id))
        outcome = await class_payments.refund_in_full(
            session, get_settings(), uuid.UUID(payment_id), reason
        )
        await session.commit()
    logger.info("class payment refunded", payment_id=payment_id, outcome=outcome)
    return outcome


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
