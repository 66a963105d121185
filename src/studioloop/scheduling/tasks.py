"""Keep recurring classes materialised ahead of time, for every studio."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant
from studioloop.scheduling import series
from studioloop.tenants import service as tenants_service

logger = get_logger(__name__)


async def _extend(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    tenant = await tenants_service.find_tenant_ref(session, ("id", str(tenant_id)))
    if tenant is None:
        return 0
    return await series.extend_all_series(
        session, tenant, horizon_weeks=get_settings().schedule_horizon_weeks
    )


@job_app.periodic(cron="15 2 * * *", periodic_id="materialise_schedules")
@job_app.task(
    name="materialise_schedules",
    queue="scheduling",
    retry=DEFAULT_RETRY,
    queueing_lock="materialise_schedules",
    pass_context=False,
)
async def materialise_schedules(timestamp: int) -> int:
    """Daily at 02:15 UTC; safe to run twice (occurrences are unique per series and date)."""
    created = await for_each_tenant(_extend)
    logger.info("schedules materialised", occurrences=created)
    return created
