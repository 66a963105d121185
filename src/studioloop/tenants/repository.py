"""The tenants domain's plain SQL (db/raw.py): the platform's own tenant, created in one
idempotent statement before any tenant is in the transaction's context.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.tenants.models import PLATFORM_KIND, PLATFORM_TENANT_ID, PLATFORM_TENANT_SLUG


async def create_platform_tenant(session: AsyncSession) -> None:
    """The platform's tenant, if this database has none yet."""
    await raw.execute(
        session,
        "INSERT INTO tenants (id, name, slug, kind, email, marketplace_enabled, timezone) "
        "VALUES (%s, 'StudioLoop marketplace', %s, %s, 'marketplace@studioloop.invalid', "
        "false, 'UTC') ON CONFLICT (id) DO NOTHING",
        (PLATFORM_TENANT_ID, PLATFORM_TENANT_SLUG, PLATFORM_KIND),
    )
