"""The marketplace's plain SQL (db/raw.py): the search across studios (the SECURITY
DEFINER function `marketplace_search`, migration 0023), an occurrence's offer, and a
studio's statement lines. Each is one prepared statement; the modules that call them
(search.py, service.py, statement.py) check inputs and shape the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

# --- search ------------------------------------------------------------------------------

_SEARCH = """
SELECT * FROM marketplace_search(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                                 %s, %s, %s, %s, %s, %s)
"""


async def search(session: AsyncSession, params: Sequence[Any]) -> list[Any]:
    """`marketplace_search`'s rows; `params` in the function's order (search.py)."""
    return await raw.fetch_all(session, _SEARCH, params)


# --- an offer ----------------------------------------------------------------------------

# Whether the studio sells this class on the marketplace, on what terms: one statement.
_OFFER = """
SELECT t.id, t.slug, t.name, t.currency, t.marketplace_enabled, t.status, t.kind,
       t.settings ->> 'payment_provider' AS payment_provider,
       c.is_active, c.is_private, c.price, c.marketplace_seats, o.marketplace_booked,
       m.payout_rate, m.commission_basis_points, m.floor_price
  FROM class_schedules o
  JOIN classes c ON c.id = o.class_id
  JOIN tenants t ON t.id = o.tenant_id
  LEFT JOIN marketplace_terms m ON m.tenant_id = o.tenant_id
 WHERE o.id = %s
"""


async def offer_row(session: AsyncSession, occurrence_id: uuid.UUID) -> Any:
    """The occurrence's studio, class and marketplace terms (`_OFFER`), or None."""
    return await raw.fetch_one(session, _OFFER, (occurrence_id,))


# --- a studio's statement ---------------------------------------------------------------

# A booking's entries are named by it (universal credits), or by its card payment.
_LINES = """
SELECT b.id AS booking_id, b.created_at AS booked_at, c.name AS class_name, o.start_time,
       u.first_name, u.last_name, b.status, b.credits_used,
       bool_or(p.id IS NOT NULL) AS by_card,
       coalesce(sum(e.amount) FILTER (WHERE e.entry_type IN
                ('marketplace', 'marketplace_refund', 'payment', 'refund')), 0) AS gross,
       -coalesce(sum(e.amount) FILTER (WHERE e.entry_type IN
                 ('commission', 'commission_refund', 'fee', 'fee_refund')), 0) AS commission
  FROM payout_entries e
  LEFT JOIN payments p ON p.id = e.payment_id
  JOIN bookings b ON b.id = coalesce(e.booking_id, p.booking_id)
  JOIN class_schedules o ON o.id = b.class_schedule_id
  JOIN classes c ON c.id = o.class_id
  JOIN users u ON u.id = b.user_id
 WHERE e.tenant_id = %s AND e.created_at >= %s AND e.created_at < %s
   AND b.booking_type = 'marketplace' AND e.entry_type <> 'transfer'
 GROUP BY b.id, b.tenant_id, c.name, o.start_time, u.first_name, u.last_name
 ORDER BY min(e.seq)
"""


async def statement_lines(
    session: AsyncSession, tenant_id: uuid.UUID, period_from: datetime, period_to: datetime
) -> list[Any]:
    """One row per marketplace booking with payout entries made in [period_from, period_to)."""
    return await raw.fetch_all(session, _LINES, (tenant_id, period_from, period_to))
