"""The notifications domain's plain SQL (db/raw.py): the studio a message is sent for,
read for every notification without loading the ORM's `Tenant`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw


async def studio_row(session: AsyncSession, tenant_id: uuid.UUID) -> Any:
    """(id, name, timezone, settings) of a studio, or None."""
    return await raw.fetch_one(
        session, "SELECT id, name, timezone, settings FROM tenants WHERE id = %s", (tenant_id,)
    )
