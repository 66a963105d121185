"""Expire lapsed credit lots, writing the expiry to the ledger."""

from __future__ import annotations

from sqlalchemy import select

from studioloop.core.logging import get_logger
from studioloop.credits import service
from studioloop.db.engine import get_database
from studioloop.db.tenancy import set_tenant_context
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.tenants.models import Tenant

logger = get_logger(__name__)


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
    late, and this job makes the ledger show it without waiting for a debit."""
    database = get_database()
    async with database.sessionmaker() as session:
        tenant_ids = list(await session.scalars(select(Tenant.id)))
    expired = 0
    for tenant_id in tenant_ids:
        async with database.sessionmaker() as session:
            await set_tenant_context(session, tenant_id)
            expired += await service.expire_due(session)
            await session.commit()
    logger.info("credits expired", credits=expired)
    return expired
