"""The accounts domain's plain SQL (db/raw.py): the membership read asked by every role
check and every booking, one prepared round trip with nothing between the driver and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

_MEMBERSHIP = """
SELECT user_id, tenant_id, role, status FROM user_tenant_roles
 WHERE tenant_id = %s AND user_id = %s AND status <> 'invited'
"""


async def membership_row(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """(user_id, tenant_id, role, status) of a member who is not merely invited, or None."""
    return await raw.fetch_one(session, _MEMBERSHIP, (tenant_id, user_id))
