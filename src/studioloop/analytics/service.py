"""The figures on a studio's dashboard, each one SQL statement (repository.py).

Days and weeks are the studio's own (its time zone): "today" in Cape Town is not today
in UTC at 01:00.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.analytics import repository


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
    row = await repository.classes_between(session, start, end)
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
    daily_rows = await repository.daily_bookings(
        session, timezone, day_start, day_start + timedelta(days=7)
    )
    found = {row.day: (row.booked, row.capacity) for row in daily_rows}
    daily = [
        (day, *found.get(day, (0, 0)))
        for day in (today + timedelta(days=offset) for offset in range(7))
    ]
    first_week = monday - timedelta(weeks=7)
    revenue_rows = await repository.weekly_revenue(session, timezone, _midnight(first_week, zone))
    by_week = {row.week: row.net for row in revenue_rows}
    revenue = [
        (week, int(by_week.get(week, 0)))
        for week in (first_week + timedelta(weeks=n) for n in range(8))
    ]
    members = await repository.member_counts(session, tenant_id, now - timedelta(days=30))
    return Dashboard(
        today=await _period(session, day_start, day_start + timedelta(days=1)),
        week=await _period(session, week_start, week_start + timedelta(days=7)),
        daily=daily,
        revenue=revenue,
        members=members.members,
        new_members=members.new_members,
    )
