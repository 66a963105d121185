"""What the booking engine needs from the timetable: facts about an occurrence and its seats.

Seats are taken with one guarded UPDATE (`booked_count < capacity`), never read-then-write,
so two members racing for the last place cannot both get it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.db.tenancy import allow_occurrence_lookup
from studioloop.scheduling import exceptions as exc
from studioloop.scheduling.models import ClassSchedule
from studioloop.scheduling.schedule_service import (
    DEFAULT_BOOKING_WINDOW_HOURS,
    DEFAULT_CANCELLATION_WINDOW_HOURS,
    effective_window,
)


@dataclass(frozen=True)
class OccurrenceFacts:
    id: uuid.UUID
    tenant_id: uuid.UUID
    class_id: uuid.UUID
    class_name: str
    class_type: str
    credits_required: int
    requires_membership: bool
    price: int | None
    currency: str
    start_time: datetime
    end_time: datetime
    status: str
    capacity: int
    booked_count: int
    booking_window: timedelta
    cancellation_window: timedelta
    tenant_settings: dict[str, Any]
    tenant_name: str = ""
    timezone: str = "UTC"

    @property
    def local_start(self) -> str:
        """The start as members read it: the studio's wall clock, e.g. "Sat 05 Dec 09:00"."""
        return self.start_time.astimezone(ZoneInfo(self.timezone)).strftime("%a %d %b %H:%M")


# Plain SQL (db/raw.py): every booking, cancellation and check-in starts here.
_FACTS = """
SELECT o.id, o.tenant_id, c.id AS class_id, c.name AS class_name, c.class_type,
       c.credits_required, c.requires_membership, c.price, t.currency,
       o.start_time, o.end_time, o.status, o.capacity, o.booked_count,
       o.booking_window_hours, c.booking_window_hours AS class_booking_window_hours,
       o.cancellation_window_hours,
       c.cancellation_window_hours AS class_cancellation_window_hours,
       t.settings, t.name AS tenant_name, t.timezone
  FROM class_schedules o
  JOIN classes c ON c.id = o.class_id
  JOIN tenants t ON t.id = o.tenant_id
 WHERE o.id = %s
"""


async def occurrence_facts(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceFacts:
    row = await raw.fetch_one(session, _FACTS, (occurrence_id,))
    if row is None:
        raise exc.ScheduleNotFound()
    return facts_from_row(row)


def facts_from_row(row: Any) -> OccurrenceFacts:
    """The facts from a row with `_FACTS`'s columns (booking's `booking_attempt` returns
    them too, with the member's state)."""
    settings = row.settings or {}
    booking_hours = effective_window(
        row.booking_window_hours,
        row.class_booking_window_hours,
        settings,
        "booking_window_hours",
        DEFAULT_BOOKING_WINDOW_HOURS,
    )
    cancel_hours = effective_window(
        row.cancellation_window_hours,
        row.class_cancellation_window_hours,
        settings,
        "cancellation_window_hours",
        DEFAULT_CANCELLATION_WINDOW_HOURS,
    )
    return OccurrenceFacts(
        id=row.id,
        tenant_id=row.tenant_id,
        class_id=row.class_id,
        class_name=row.class_name,
        class_type=row.class_type,
        credits_required=row.credits_required,
        requires_membership=row.requires_membership,
        price=row.price,
        currency=row.currency,
        start_time=row.start_time,
        end_time=row.end_time,
        status=row.status,
        capacity=row.capacity,
        booked_count=row.booked_count,
        booking_window=timedelta(hours=booking_hours),
        cancellation_window=timedelta(hours=cancel_hours),
        tenant_settings=settings,
        tenant_name=row.tenant_name,
        timezone=row.timezone,
    )


async def enter_tenant_of(session: AsyncSession, occurrence_id: uuid.UUID) -> uuid.UUID:
    """Put the studio of an occurrence named only by id (`POST /bookings` without a slug)
    in context: the occurrence is made readable through its narrow RLS path, and the same
    statement that finds its studio sets it, so this costs two round trips, not four."""
    await allow_occurrence_lookup(session, occurrence_id)
    row = await raw.fetch_one(
        session,
        "SELECT tenant_id, set_config('app.tenant_id', tenant_id::text, true) "
        "FROM class_schedules WHERE id = %s",
        (occurrence_id,),
    )
    if row is None:
        raise exc.ScheduleNotFound()
    tenant_id: uuid.UUID = row.tenant_id
    return tenant_id


async def take_seat(
    session: AsyncSession, occurrence_id: uuid.UUID, *, marketplace: bool = False
) -> bool:
    """Take one seat if one is free; the single statement is the capacity guard (for the
    marketplace, also within the class's marketplace seats)."""
    if marketplace:
        taken = await raw.fetch_one(
            session,
            "UPDATE class_schedules o SET booked_count = o.booked_count + 1, "
            "marketplace_booked = o.marketplace_booked + 1, updated_at = now() "
            "FROM classes c WHERE o.id = %s AND c.id = o.class_id "
            "AND o.booked_count < o.capacity AND o.status = 'scheduled' "
            "AND (c.marketplace_seats IS NULL OR o.marketplace_booked < c.marketplace_seats) "
            "RETURNING o.booked_count",
            (occurrence_id,),
        )
    else:
        taken = await raw.fetch_one(
            session,
            "UPDATE class_schedules SET booked_count = booked_count + 1, updated_at = now() "
            "WHERE id = %s AND booked_count < capacity AND status = 'scheduled' "
            "RETURNING booked_count",
            (occurrence_id,),
        )
    return taken is not None


async def release_seat(
    session: AsyncSession, occurrence_id: uuid.UUID, *, marketplace: bool = False
) -> None:
    """Give a seat back (a marketplace booking's also frees one of the marketplace's)."""
    values: dict[str, Any] = {"booked_count": ClassSchedule.booked_count - 1}
    if marketplace:
        values["marketplace_booked"] = text("greatest(marketplace_booked - 1, 0)")
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id, ClassSchedule.booked_count > 0)
        .values(**values)
    )


async def change_waitlist(session: AsyncSession, occurrence_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id)
        .values(waitlist_count=text(f"greatest(waitlist_count + {int(delta)}, 0)"))
    )


async def clear_counts(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    """After an occurrence is cancelled and all its bookings with it."""
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id)
        .values(booked_count=0, waitlist_count=0, marketplace_booked=0)
    )
