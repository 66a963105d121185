"""Renewing memberships (and retrying unpaid renewals), every quarter of an hour."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.billing import renewals
from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant

logger = get_logger(__name__)


async def _renew(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    renewed = await renewals.renew_due(session, get_settings())
    await renewals.announce_upcoming(session)
    return renewed


@job_app.periodic(cron="*/15 * * * *", periodic_id="renew_memberships")
@job_app.task(
    name="renew_memberships",
    queue="billing",
    retry=DEFAULT_RETRY,
    queueing_lock="renew_memberships",
    pass_context=False,
)
async def renew_memberships(timestamp: int) -> int:
    """Safe to run twice: a renewed membership's period is in the future again, and a
    failed one waits for its next attempt."""
    renewed = await for_each_tenant(_renew)
    if renewed:
        logger.info("memberships renewed or retried", subscriptions=renewed)
    return renewed
