"""Periodic jobs that do the same work for every studio, one transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db.engine import get_database
from studioloop.db.tenancy import enter_tenant_for_transaction

# A studio's work: (session with the tenant set, tenant id, tenant settings) -> a count.
TenantWork = Callable[[AsyncSession, uuid.UUID, dict[str, Any]], Awaitable[int]]


async def for_each_tenant(work: TenantWork, *, active_only: bool = True) -> int:
    """Run `work` for every studio in its own transaction (and row-level security
    context), so one studio's trouble neither holds up nor rolls back the others."""
    database = get_database()
    where = "WHERE status IN ('active', 'trial')" if active_only else ""
    async with database.sessionmaker() as session:
        tenants = list(await session.execute(text(f"SELECT id, settings FROM tenants {where}")))  # noqa: S608
    total = 0
    for tenant_id, settings in tenants:
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            total += await work(session, tenant_id, settings or {})
            await session.commit()
    return total
