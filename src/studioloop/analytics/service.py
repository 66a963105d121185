"""The figures on a studio's dashboard and the platform console, each one SQL statement.

Days and weeks are the studio's own (its time zone): "today" in Cape Town is not today
in UTC at 01:00.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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


@dataclass(frozen=True)
class Period:
    classes: int
    booked: int
    capacity: int
    waitlisted: int
    checked_in: int

    @property
    def fill_rate(self) -> int:
        """Percent of places taken (whole percent, rounded down: no floats for counts)."""
        return self.booked * 100 // self.capacity if self.capacity else 0


@dataclass(frozen=True)
class Dashboard:
    today: Period
    week: Period
    daily: list[tuple[date, int, int]]  # day, booked, capacity (the next 7 days)
    revenue: list[tuple[date, int]]  # week start, net minor units (last 8 weeks)
    members: int
    new_members: int  # joined in the last 30 days


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


async def _period(session: AsyncSession, start: datetime, end: datetime) -> Period:
    row = await raw.fetch_one(session, _CLASSES, (start, end, start, end))
    return Period(row.classes, row.booked, row.capacity, row.waitlisted, row.checked_in)


async def dashboard(
    session: AsyncSession, tenant_id: uuid.UUID, timezone: str, now: datetime
) -> Dashboard:
    """The studio in context's figures (row-level security keeps them its own)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    day_start = _midnight(today, zone)
    week_start = _midnight(monday, zone)
    daily_rows = await raw.fetch_all(
        session, _DAILY_BOOKINGS, (timezone, day_start, day_start + timedelta(days=7))
    )
    found = {row.day: (row.booked, row.capacity) for row in daily_rows}
    daily = [
        (day, *found.get(day, (0, 0)))
        for day in (today + timedelta(days=offset) for offset in range(7))
    ]
    first_week = monday - timedelta(weeks=7)
    revenue_rows = await raw.fetch_all(
        session, _WEEKLY_REVENUE, (timezone, _midnight(first_week, zone))
    )
    by_week = {row.week: row.net for row in revenue_rows}
    revenue = [
        (week, int(by_week.get(week, 0)))
        for week in (first_week + timedelta(weeks=n) for n in range(8))
    ]
    members = await raw.fetch_one(session, _MEMBERS, (now - timedelta(days=30), tenant_id))
    return Dashboard(
        today=await _period(session, day_start, day_start + timedelta(days=1)),
        week=await _period(session, week_start, week_start + timedelta(days=7)),
        daily=daily,
        revenue=revenue,
        members=members.members,
        new_members=members.new_members,
    )
