"""The booking domain's statements: the one read a booking decision needs, the one seat
statement, and the seat counters. Plain SQL on the request's connection (db/raw.py): these
run for every booking attempt, so each is one prepared round trip with nothing between the
driver and PostgreSQL. Also the reminder job's reads, and `pipeline`, with which the
booking path sends the debit, its job and the seat in one round trip.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking.eligibility import (
    Attempt,
    Entitlement,
    OccurrenceFacts,
    facts_from_row,
)
from studioloop.booking.models import ACTIVE_STATUSES, SEAT_STATUSES
from studioloop.db import raw, sql_files
from studioloop.scheduling import exceptions as scheduling_exc
from studioloop.scheduling.models import ClassSchedule

# The service opens the block; only this domain's (and the credit ledger's) plain SQL runs
# inside it (db/raw.py says why the ORM cannot).
pipeline = raw.pipeline


def attempt_function_sql() -> str:
    """`occurrence_facts` and `booking_attempt` as migrations create them (attempt.sql)."""
    return sql_files.render(
        "booking/attempt.sql",
        {"ACTIVE_STATUSES": ACTIVE_STATUSES, "SEAT_STATUSES": SEAT_STATUSES},
    )


# --- the one read ------------------------------------------------------------------------

_ATTEMPT = "SELECT * FROM booking_attempt(%s, %s, %s, %s)"


def _attempt_from_row(row: Any, user_id: uuid.UUID) -> Attempt:
    return Attempt(
        facts=facts_from_row(row),
        user_id=user_id,
        booked=row.booked,
        booked_status=row.booked_status,
        clash=row.clash,
        membership_status=row.membership_status,
        future_bookings=row.future_bookings,
        same_day_bookings=row.same_day_bookings,
        entitlement=Entitlement(
            has_membership=row.has_membership,
            unlimited=row.unlimited,
            unlimited_class_types=frozenset(row.unlimited_class_types or ()),
        ),
    )


async def read_attempt(
    session: AsyncSession,
    occurrence_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    find_studio: bool = False,
    keep_caller: bool = False,
) -> Attempt | None:
    """Everything `eligibility.decide` needs, in one round trip; None when the member's
    account is not active. The member is put in the transaction's context, unless
    `keep_caller` (another member's attempt, read inside someone else's transaction).
    With `find_studio` the occurrence's studio is put in context too; without, the
    request's studio must be in context already and another studio's occurrence is not
    found."""
    row = await raw.fetch_one(session, _ATTEMPT, (occurrence_id, user_id, find_studio, keep_caller))
    if row is None:
        raise scheduling_exc.ScheduleNotFound()
    return _attempt_from_row(row, user_id) if row.user_active else None


async def read_attempt_outside_transaction(
    occurrence_id: uuid.UUID, user_id: uuid.UUID
) -> Attempt | None:
    """The same read in autocommit, finding the studio (the rush gate's); None when the
    occurrence is not found or the account is not active."""
    row = await raw.fetch_one_outside_transaction(_ATTEMPT, (occurrence_id, user_id, True, False))
    if row is None or not row.user_active:
        return None
    return _attempt_from_row(row, user_id)


async def occurrence_facts(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceFacts:
    """The occurrence alone (cancelling, checking in, telling members): the same function
    the attempt reads its facts from."""
    row = await raw.fetch_one(session, "SELECT * FROM occurrence_facts(%s)", (occurrence_id,))
    if row is None:
        raise scheduling_exc.ScheduleNotFound()
    return facts_from_row(row)


# --- the one seat statement --------------------------------------------------------------

# The capacity guard: one seat is taken only if one is free, in a single UPDATE, never
# read-then-write, so two members racing for the last place cannot both get it. A
# marketplace seat is also one of the marketplace's share of the class, counted in the
# same statement. (For any other seat `NOT marketplace` is true and the share's subquery
# is never run.)
_SEAT = """
seat AS (
    UPDATE class_schedules o
       SET booked_count = o.booked_count + 1,
           marketplace_booked = o.marketplace_booked + %(marketplace)s::integer,
           updated_at = now()
     WHERE o.id = %(occurrence)s AND o.booked_count < o.capacity AND o.status = 'scheduled'
       AND (NOT %(marketplace)s
            OR o.marketplace_booked < coalesce(
                   (SELECT c.marketplace_seats FROM classes c WHERE c.id = o.class_id),
                   o.capacity))
    RETURNING o.id, o.tenant_id
)
"""

# A new booking and its seat in one statement: without a free seat the UPDATE returns no
# row and the INSERT inserts nothing. It is sent last before COMMIT, so the hot class row
# stays locked as briefly as possible.
_INSERT_WITH_SEAT = (
    "WITH"
    + _SEAT
    + """
INSERT INTO bookings (id, tenant_id, user_id, class_schedule_id, status, booking_type,
                      credits_used, marketplace_fee, qr_code, qr_expires_at, hold_expires_at)
SELECT %(booking)s, seat.tenant_id, %(user)s, seat.id, %(status)s, %(booking_type)s,
       %(credits)s, %(fee)s, %(qr_code)s, %(qr_expires)s, %(hold_expires)s
  FROM seat
RETURNING created_at
"""
)

# A seat for a booking that exists already (promoted from the waitlist, or paid for after
# its hold lapsed); the caller updates the booking.
_TAKE_SEAT = "WITH" + _SEAT + "SELECT id FROM seat"  # noqa: S608 (constants only)


async def send_book_seat(
    session: AsyncSession,
    *,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    credits_used: int,
    qr_code: str | None,
    qr_expires_at: datetime | None,
    hold_expires_at: datetime | None = None,
    marketplace_fee: int | None = None,
) -> AsyncCursor[Any]:
    """Take a seat and insert the booking: confirmed with its QR code, or held until
    `hold_expires_at`; a marketplace booking when it has a `marketplace_fee`. Sent with
    `raw.send` (in a `raw.pipeline`, with the block's other statements); `seat_taken`
    reads the answer. A second active booking of the same member for the same occurrence
    violates a partial unique index (psycopg's UniqueViolation, raised here or, in a
    pipeline, at the end of the block)."""
    marketplace = marketplace_fee is not None
    return await raw.send(
        session,
        _INSERT_WITH_SEAT,
        {
            "occurrence": occurrence_id,
            "marketplace": marketplace,
            "booking": booking_id,
            "user": user_id,
            "status": "held" if hold_expires_at is not None else "confirmed",
            "booking_type": "marketplace" if marketplace else "direct",
            "credits": credits_used,
            "fee": marketplace_fee,
            "qr_code": qr_code,
            "qr_expires": qr_expires_at,
            "hold_expires": hold_expires_at,
        },
    )


async def seat_taken(sent: AsyncCursor[Any]) -> datetime | None:
    """The new booking's creation time, or None when no seat was free (nothing changed)."""
    row = await sent.fetchone()
    return None if row is None else row.created_at


async def take_seat(
    session: AsyncSession, occurrence_id: uuid.UUID, *, marketplace: bool = False
) -> bool:
    """Take one seat for an existing booking if one is free (the same guard)."""
    taken = await raw.fetch_one(
        session, _TAKE_SEAT, {"occurrence": occurrence_id, "marketplace": marketplace}
    )
    return taken is not None


# --- the counters ------------------------------------------------------------------------
# Through the ORM: a class occurrence loaded in the session (cancelling it, say) sees them.


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


# --- reminders (the periodic job) --------------------------------------------------------

_UPCOMING = """
SELECT b.id, b.user_id, b.created_at, o.id AS occurrence_id, o.start_time
  FROM bookings b
  JOIN class_schedules o ON o.id = b.class_schedule_id
 WHERE b.status = 'confirmed' AND o.status = 'scheduled'
   AND o.start_time > %s AND o.start_time <= %s
"""


async def confirmed_between(session: AsyncSession, start: datetime, end: datetime) -> list[Any]:
    """Confirmed bookings of scheduled classes starting in (start, end]."""
    return await raw.fetch_all(session, _UPCOMING, (start, end))


async def furthest_custom_reminder(session: AsyncSession, tenant_id: uuid.UUID) -> int | None:
    """The most hours ahead any member here chose to be reminded, if any chose."""
    custom = await raw.fetch_one(
        session,
        "SELECT max(h) AS hours FROM notification_preferences p, unnest(p.reminder_hours) h "
        "WHERE p.tenant_id = %s",
        (tenant_id,),
    )
    hours: int | None = custom.hours
    return hours


async def studio_timezone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    timezone = await raw.fetch_one(
        session, "SELECT timezone FROM tenants WHERE id = %s", (tenant_id,)
    )
    zone: str = timezone.timezone
    return zone
