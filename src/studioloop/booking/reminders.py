"""Class reminders: by default 24 and 2 hours before, the studio's `reminder_hours`, or
each member's own timing.

A reminder in whole days keeps the wall clock ("the day before, at the same time") across
a daylight-saving change; one in hours is that many real hours before. A periodic job finds
what is due: a booking gets only the closest reminder that is due (a member who booked 20
hours ahead gets the 2-hour one, not a late 24-hour one), never one from before they
booked, and each at most once (its dedup key).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import notices, repository
from studioloop.notifications import preferences, service as notifications
from studioloop.notifications.models import NotificationPreference


def due_at(start: datetime, hours: int, timezone: str) -> datetime:
    """When a reminder `hours` before `start` is due (see the module's note on days)."""
    if hours % 24:
        return start - timedelta(hours=hours)
    zone = ZoneInfo(timezone)
    wall = start.astimezone(zone).replace(tzinfo=None) - timedelta(hours=hours)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def closest_due(
    start: datetime, booked_at: datetime, hours: tuple[int, ...], timezone: str, now: datetime
) -> int | None:
    """The reminder to send now, if any: the closest to the class that is due."""
    due = [h for h in hours if booked_at <= due_at(start, h, timezone) <= now]
    return min(due) if due else None


async def _horizon_hours(
    session: AsyncSession, tenant_id: uuid.UUID, studio_hours: tuple[int, ...]
) -> int:
    """The furthest ahead anyone here wants reminding, plus an hour for a clock change."""
    custom = await repository.furthest_custom_reminder(session, tenant_id)
    return max((*studio_hours, custom or 0, 0)) + 1


async def send_due(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    tenant_settings: dict[str, Any],
    timezone: str,
    now: datetime | None = None,
) -> int:
    """Remind the members of the studio in context whose reminder is due."""
    now = now or datetime.now(UTC)
    horizon = await _horizon_hours(
        session, tenant_id, preferences.studio_reminder_hours(tenant_settings)
    )
    upcoming = await repository.confirmed_between(session, now, now + timedelta(hours=horizon))
    if not upcoming:
        return 0
    choices = {
        row.user_id: row
        for row in await session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.tenant_id == tenant_id,
                NotificationPreference.user_id.in_({b.user_id for b in upcoming}),
            )
        )
    }
    planned: dict[str, tuple[Any, int]] = {}
    for booking in upcoming:
        prefs = preferences.merge(choices.get(booking.user_id), tenant_settings)
        if not prefs.reminders:
            continue
        hours = closest_due(
            booking.start_time, booking.created_at, prefs.reminder_hours, timezone, now
        )
        if hours is not None:
            planned[f"class_reminder:{booking.id}:{hours}"] = (booking, hours)
    sent = await notifications.already_sent(session, list(planned))
    for key, (booking, hours) in planned.items():
        if key in sent:
            continue
        facts = await repository.occurrence_facts(session, booking.occurrence_id)
        await notices.tell(
            session,
            booking.user_id,
            "class_reminder",
            facts,
            dedup_key=key,
            not_after=facts.start_time,
            hours=hours,
        )
    return len(planned) - len(sent)
