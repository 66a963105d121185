"""Usage's daily upkeep: the monthly partitions of usage events, and retention."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant
from studioloop.usage import forwarding, job_names, repository

logger = get_logger(__name__)
MONTHS_AHEAD = 2


async def _forget_ids(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    return await repository.forget_old_event_ids(
        session, get_settings().usage_events_retention_months
    )


@job_app.periodic(cron="17 3 * * *", periodic_id="keep_usage_partitions")
@job_app.task(
    name="keep_usage_partitions",
    queue="usage",
    retry=DEFAULT_RETRY,
    queueing_lock="keep_usage_partitions",
    pass_context=False,
)
async def keep_usage_partitions(timestamp: int) -> int:
    """Daily: this month's and the next two months' partitions exist before their events
    come (an event for a month without one lands in the DEFAULT partition, stored all the
    same); partitions and event ids older than the retention go."""
    keep = get_settings().usage_events_retention_months
    async with get_database().sessionmaker() as session:
        made = await repository.keep_partitions(session, MONTHS_AHEAD, keep)
        await session.commit()
    forgotten = await for_each_tenant(_forget_ids, active_only=False)
    logger.info("usage partitions kept", made=made, event_ids_forgotten=forgotten)
    return made


@job_app.task(name=job_names.FORWARD_TO_POSTHOG, queue="usage", retry=DEFAULT_RETRY)
async def forward_usage_to_posthog(host: str, api_key: str, batch: list[dict[str, Any]]) -> int:
    """A batch's accepted events, to the studio's PostHog project (forwarding.py)."""
    await forwarding.send(host, api_key, batch)
    return len(batch)
