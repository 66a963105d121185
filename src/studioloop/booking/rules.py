"""The rules every booking passes, direct or through the marketplace: the class is open
for booking, and the studio's fairness caps allow one more."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import exceptions as exc
from studioloop.booking.models import ACTIVE_STATUSES, Booking
from studioloop.scheduling.capacity import OccurrenceFacts
from studioloop.scheduling.models import ClassSchedule, ClassTemplate


def _now() -> datetime:
    return datetime.now(UTC)


def check_open(facts: OccurrenceFacts) -> None:
    now = _now()
    if facts.status == "cancelled":
        raise exc.ClassCancelled()
    if now >= facts.start_time or facts.status != "scheduled":
        raise exc.BookingWindowClosed()
    opens_at = facts.start_time - facts.booking_window
    if now < opens_at:
        raise exc.BookingNotOpen(details={"opens_at": opens_at.isoformat()})


async def check_limits(session: AsyncSession, facts: OccurrenceFacts, user_id: uuid.UUID) -> None:
    """Fairness caps from the studio's settings (none by default)."""
    rules = facts.tenant_settings
    max_future = rules.get("max_future_bookings")
    if isinstance(max_future, int) and max_future > 0:
        held = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
            .where(
                Booking.user_id == user_id,
                Booking.status.in_(ACTIVE_STATUSES),
                ClassSchedule.start_time > _now(),
            )
        )
        if (held or 0) >= max_future:
            raise exc.BookingLimitReached(details={"max_future_bookings": max_future})
    per_day = rules.get("max_daily_bookings_per_class_type")
    if isinstance(per_day, int) and per_day > 0:
        day_start = facts.start_time.replace(hour=0, minute=0, second=0, microsecond=0)
        same_day = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
            .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
            .where(
                Booking.user_id == user_id,
                Booking.status.in_(ACTIVE_STATUSES),
                ClassTemplate.class_type == facts.class_type,
                ClassSchedule.start_time >= day_start,
                ClassSchedule.start_time < day_start + timedelta(days=1),
            )
        )
        if (same_day or 0) >= per_day:
            raise exc.BookingLimitReached(
                details={
                    "max_daily_bookings_per_class_type": per_day,
                    "class_type": facts.class_type,
                }
            )
