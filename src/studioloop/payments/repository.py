"""The payments domain's plain SQL (db/raw.py): a studio's next receipt number, taken in
one statement that also serialises concurrent receipts of that studio on its counter row.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

_NEXT_NUMBER = """
INSERT INTO receipt_counters (tenant_id, last_number) VALUES (%s, 1)
ON CONFLICT (tenant_id) DO UPDATE SET last_number = receipt_counters.last_number + 1
RETURNING last_number
"""


async def next_receipt_number(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    row = await raw.fetch_one(session, _NEXT_NUMBER, (tenant_id,))
    number: int = row.last_number
    return number
