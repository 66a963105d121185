"""Keep recurring classes materialised ahead of time, for every studio."""

from __future__ import annotations

from sqlalchemy import select

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import set_tenant_context
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.scheduling import schedule_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.models import Tenant

logger = get_logger(__name__)


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
    settings = get_settings()
    database = get_database()
    async with database.sessionmaker() as session:
        tenants = list(
            await session.execute(
                select(
                    Tenant.id,
                    Tenant.slug,
                    Tenant.name,
                    Tenant.status,
                    Tenant.timezone,
                    Tenant.currency,
                ).where(Tenant.status.in_(("active", "trial")))
            )
        )
    created = 0
    for row in tenants:
        tenant = TenantRef(*row)
        # One transaction per studio: one studio's trouble does not hold up the others.
        async with database.sessionmaker() as session:
            await set_tenant_context(session, tenant.id)
            created += await schedule_service.extend_all_series(
                session, tenant, horizon_weeks=settings.schedule_horizon_weeks
            )
            await session.commit()
    logger.info("schedules materialised", occurrences=created, tenants=len(tenants))
    return created
