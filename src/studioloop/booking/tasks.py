"""After classes end: attended bookings complete, the rest are no-shows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from studioloop.booking import checkin
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import set_tenant_context
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.tenants.models import Tenant

logger = get_logger(__name__)
DEFAULT_NO_SHOW_GRACE_MINUTES = 15


@job_app.periodic(cron="*/10 * * * *", periodic_id="close_finished_classes")
@job_app.task(
    name="close_finished_classes",
    queue="booking",
    retry=DEFAULT_RETRY,
    queueing_lock="close_finished_classes",
    pass_context=False,
)
async def close_finished_classes(timestamp: int) -> int:
    """Every 10 minutes; safe to run twice (only still-scheduled classes are touched)."""
    database = get_database()
    async with database.sessionmaker() as session:
        tenants = list(
            await session.execute(
                select(Tenant.id, Tenant.settings).where(Tenant.status.in_(("active", "trial")))
            )
        )
    closed = 0
    for tenant_id, settings in tenants:
        grace = settings.get("no_show_grace_minutes", DEFAULT_NO_SHOW_GRACE_MINUTES)
        async with database.sessionmaker() as session:
            await set_tenant_context(session, tenant_id)
            counts = await checkin.close_finished(session, grace=timedelta(minutes=int(grace)))
            await session.commit()
        closed += counts["occurrences"]
    logger.info("finished classes closed", occurrences=closed)
    return closed
