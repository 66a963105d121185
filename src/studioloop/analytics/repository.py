"""The analytics domain's statements: each dashboard figure and the platform console's
counts are one plain SQL statement on the request's connection (db/raw.py). The reports
aggregate across tables in ways the ORM would only spell out longhand, so the SQL is the
clearest form of them; service.py and platform.py turn the rows into figures.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

_CLASSES = """
SELECT count(*) AS classes,
       coalesce(sum(o.booked_count), 0) AS booked,
       coalesce(sum(o.capacity), 0) AS capacity,
       coalesce(sum(o.waitlist_count), 0) AS waitlisted,
       (SELECT count(*) FROM bookings b JOIN class_schedules x ON x.id = b.class_schedule_id
         WHERE x.start_time >= %s AND x.start_time < %s AND b.check_in_time IS NOT NULL)
         AS checked_in
  FROM class_schedules o
 WHERE o.start_time >= %s AND o.start_time < %s AND o.status <> 'cancelled'
"""

_DAILY_BOOKINGS = """
SELECT (o.start_time AT TIME ZONE %s)::date AS day, coalesce(sum(o.booked_count), 0) AS booked,
       coalesce(sum(o.capacity), 0) AS capacity
  FROM class_schedules o
 WHERE o.start_time >= %s AND o.start_time < %s AND o.status <> 'cancelled'
 GROUP BY 1 ORDER BY 1
"""

# Money in, by the studio's week; refunds taken off.
_WEEKLY_REVENUE = """
SELECT date_trunc('week', p.succeeded_at AT TIME ZONE %s)::date AS week,
       coalesce(sum(p.amount - p.amount_refunded), 0) AS net
  FROM payments p
 WHERE p.succeeded_at >= %s AND p.status IN ('succeeded', 'partially_refunded', 'refunded')
 GROUP BY 1 ORDER BY 1
"""

_MEMBERS = """
SELECT count(*) FILTER (WHERE role = 'member' AND status = 'active') AS members,
       count(*) FILTER (WHERE role = 'member' AND joined_at >= %s) AS new_members
  FROM user_tenant_roles WHERE tenant_id = %s
"""


async def classes_between(session: AsyncSession, start: datetime, end: datetime) -> Any:
    """Classes, places booked and offered, waitlisted and checked in, in [start, end)."""
    return await raw.fetch_one(session, _CLASSES, (start, end, start, end))


async def daily_bookings(
    session: AsyncSession, timezone: str, start: datetime, end: datetime
) -> list[Any]:
    """(day, booked, capacity) per local day with classes in [start, end)."""
    return await raw.fetch_all(session, _DAILY_BOOKINGS, (timezone, start, end))


async def weekly_revenue(session: AsyncSession, timezone: str, since: datetime) -> list[Any]:
    """(week, net) per local week with money in since `since`."""
    return await raw.fetch_all(session, _WEEKLY_REVENUE, (timezone, since))


async def member_counts(session: AsyncSession, tenant_id: uuid.UUID, joined_since: datetime) -> Any:
    """(members, new_members): active members, and members who joined since `joined_since`."""
    return await raw.fetch_one(session, _MEMBERS, (joined_since, tenant_id))


# The platform's figures, through the SECURITY DEFINER functions of migration 0020.


async def platform_tenant_stats(session: AsyncSession, since: datetime) -> list[Any]:
    return await raw.fetch_all(session, "SELECT * FROM platform_tenant_stats(%s)", (since,))


async def platform_signups(session: AsyncSession, since: datetime) -> int:
    signups = await raw.fetch_one(session, "SELECT platform_signups(%s) AS n", (since,))
    return int(signups.n)
