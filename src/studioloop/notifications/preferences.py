"""A member's choices for one studio, merged with the studio's defaults.

Studio settings (tenant `settings` JSON):
- `notification_channels`: the channels the studio uses, in the order members get them by
  default (default: push, whatsapp, email, sms; SMS last because each one costs money).
- `reminder_hours`: hours before a class to remind members (default [24, 2]).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.notifications.events import OPTIONAL_CATEGORIES, Event
from studioloop.notifications.models import CHANNELS, NotificationPreference

DEFAULT_CHANNELS = ("push", "whatsapp", "email", "sms")
DEFAULT_REMINDER_HOURS = (24, 2)
EDITABLE = (
    "channels",
    "booking_updates",
    "reminders",
    "reminder_hours",
    "marketing",
    "quiet_hours_start",
    "quiet_hours_end",
)


@dataclass(frozen=True)
class Preferences:
    channels: tuple[str, ...]
    booking_updates: bool
    reminders: bool
    reminder_hours: tuple[int, ...]
    marketing: bool
    quiet_hours_start: time | None
    quiet_hours_end: time | None
    studio_channels: tuple[str, ...]
    customised: bool

    def allows(self, event: Event) -> bool:
        """Critical messages (a cancelled class, a place won from the waitlist) go out
        whatever the switches say: not knowing costs the member a class or money."""
        field = OPTIONAL_CATEGORIES.get(event.category)
        return field is None or event.critical or bool(getattr(self, field))

    def quiet_until(self, now: datetime, timezone: str) -> datetime | None:
        """When the member's quiet hours end, if `now` falls inside them."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None or end is None or start == end:
            return None
        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        if start < end:  # e.g. 13:00-14:00
            if not start <= clock < end:
                return None
            ends_on = local.date()
        else:  # across midnight, e.g. 21:00-07:00
            if end <= clock < start:
                return None
            ends_on = local.date() + timedelta(days=1) if clock >= start else local.date()
        return datetime.combine(ends_on, end, tzinfo=zone).astimezone(UTC)


def studio_channels(tenant_settings: dict[str, Any]) -> tuple[str, ...]:
    chosen = tenant_settings.get("notification_channels")
    if not isinstance(chosen, list) or not chosen:
        return DEFAULT_CHANNELS
    return tuple(c for c in chosen if c in CHANNELS) or DEFAULT_CHANNELS


def studio_reminder_hours(tenant_settings: dict[str, Any]) -> tuple[int, ...]:
    hours = tenant_settings.get("reminder_hours")
    if not isinstance(hours, list):
        return DEFAULT_REMINDER_HOURS
    return tuple(sorted({int(h) for h in hours if isinstance(h, int) and 0 < h <= 168}))


async def load_row(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> NotificationPreference | None:
    return await session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.tenant_id == tenant_id,
            NotificationPreference.user_id == user_id,
        )
    )


def merge(row: NotificationPreference | None, tenant_settings: dict[str, Any]) -> Preferences:
    studio = studio_channels(tenant_settings)
    if row is None:
        return Preferences(
            channels=studio,
            booking_updates=True,
            reminders=True,
            reminder_hours=studio_reminder_hours(tenant_settings),
            marketing=False,
            quiet_hours_start=None,
            quiet_hours_end=None,
            studio_channels=studio,
            customised=False,
        )
    # A member's order, limited to what the studio uses; an empty choice: the studio's.
    chosen = tuple(c for c in row.channels if c in studio) or studio
    return Preferences(
        channels=chosen,
        booking_updates=row.booking_updates,
        reminders=row.reminders,
        reminder_hours=(
            tuple(row.reminder_hours)
            if row.reminder_hours is not None
            else studio_reminder_hours(tenant_settings)
        ),
        marketing=row.marketing,
        quiet_hours_start=row.quiet_hours_start,
        quiet_hours_end=row.quiet_hours_end,
        studio_channels=studio,
        customised=True,
    )


async def effective(
    session: AsyncSession,
    tenant_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    tenant_settings: dict[str, Any],
) -> Preferences:
    row = None
    if tenant_id is not None and user_id is not None:
        row = await load_row(session, tenant_id, user_id)
    return merge(row, tenant_settings)


async def save(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, Any]
) -> NotificationPreference:
    """Insert or update the member's row with only the fields given."""
    values = {k: v for k, v in changes.items() if k in EDITABLE}
    statement = insert(NotificationPreference).values(
        tenant_id=tenant_id, user_id=user_id, **values
    )
    if values:
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "user_id"], set_={**values, "updated_at": func.now()}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["tenant_id", "user_id"])
    await session.execute(statement)
    row = await load_row(session, tenant_id, user_id)
    assert row is not None
    await session.refresh(row)
    return row
