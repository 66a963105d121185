"""Expire lapsed credit lots, writing the expiry to the ledger."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.logging import get_logger
from studioloop.credits import expiry_notices, service
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant

logger = get_logger(__name__)


async def _expire(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    expired = await service.expire_due(session)
    await expiry_notices.warn_expiring(session, tenant_id)
    return expired


@job_app.periodic(cron="5 * * * *", periodic_id="expire_credits")
@job_app.task(
    name="expire_credits",
    queue="credits",
    retry=DEFAULT_RETRY,
    queueing_lock="expire_credits",
    pass_context=False,
)
async def expire_credits(timestamp: int) -> int:
    """Hourly; debits lazily expire an account's lapsed lots too, so nothing is ever spent
    late, and this job makes the ledger show it without waiting for a debit. It also warns
    members a week ahead."""
    expired = await for_each_tenant(_expire, active_only=False)
    logger.info("credits expired", credits=expired)
    return expired
