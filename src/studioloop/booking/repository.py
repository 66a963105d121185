"""The booking path's statements, in plain SQL on the request's connection (db/raw.py).

These run for every booking attempt, so each is one round trip with nothing between the
driver and PostgreSQL; the rest of the domain uses the ORM.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.scheduling import exceptions as scheduling_exc
from studioloop.scheduling.capacity import OccurrenceFacts, facts_from_row

# Everything about the member the booking rules need, in one statement: their active
# booking of this occurrence, a confirmed booking of theirs overlapping it in time, and
# their membership of the studio. (The membership is the accounts domain's row, read here
# rather than through accounts.service to save a round trip on every booking attempt.)
_MEMBER_STATE = """
SELECT active.id AS booked, active.status AS booked_status,
       (SELECT b.id FROM bookings b
          JOIN class_schedules o ON o.id = b.class_schedule_id
         WHERE b.user_id = %(user)s AND b.status IN ('confirmed', 'held')
           AND o.start_time < %(end)s AND o.end_time > %(start)s
         LIMIT 1) AS clash,
       (SELECT m.status FROM user_tenant_roles m
         WHERE m.tenant_id = %(tenant)s AND m.user_id = %(user)s AND m.status <> 'invited')
         AS membership_status
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT b.id, b.status FROM bookings b
                      WHERE b.class_schedule_id = %(occurrence)s AND b.user_id = %(user)s
                        AND b.status IN ('confirmed', 'waitlisted', 'held')
                      LIMIT 1) active ON true
"""

# The booking row (confirmed, or held while the member pays) and the seat in one
# statement. The seat is the capacity guard (scheduling.capacity.take_seat's UPDATE, here
# as a CTE): without a free seat it returns
# no row and the INSERT inserts nothing. It is the last statement before COMMIT, so the
# hot class row stays locked as briefly as possible.
_INSERT_WITH_SEAT = """
WITH seat AS (
    UPDATE class_schedules SET booked_count = booked_count + 1, updated_at = now()
     WHERE id = %s AND booked_count < capacity AND status = 'scheduled'
    RETURNING id, tenant_id
)
INSERT INTO bookings (id, tenant_id, user_id, class_schedule_id, status, credits_used,
                      qr_code, qr_expires_at, hold_expires_at)
SELECT %s, seat.tenant_id, %s, seat.id, %s, %s, %s, %s, %s FROM seat
RETURNING created_at
"""


@dataclass(frozen=True)
class MemberState:
    booked: uuid.UUID | None  # their active (confirmed, waitlisted, held) booking of it
    booked_status: str | None
    clash: uuid.UUID | None  # their confirmed (or held) booking of an overlapping class
    membership_status: str | None  # at this studio; None: not a member (yet)


async def member_state(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    user_id: uuid.UUID,
    start_time: datetime,
    end_time: datetime,
) -> MemberState:
    row = await raw.fetch_one(
        session,
        _MEMBER_STATE,
        {
            "tenant": tenant_id,
            "occurrence": occurrence_id,
            "user": user_id,
            "start": start_time,
            "end": end_time,
        },
    )
    assert row is not None  # always one row: (SELECT 1) left-joined
    return MemberState(
        booked=row.booked,
        booked_status=row.booked_status,
        clash=row.clash,
        membership_status=row.membership_status,
    )


async def booking_attempt(
    session: AsyncSession, occurrence_id: uuid.UUID, user_id: uuid.UUID, *, find_studio: bool
) -> tuple[OccurrenceFacts, MemberState] | None:
    """The occurrence's facts and the member's state in one round trip (the SQL function
    `booking_attempt`, migration 0024), which also puts the member in the transaction's
    context; None when the member's account is not active. With `find_studio` the
    occurrence's studio is put in context too; without, the request's studio must be in
    context already and an occurrence of another studio is not found."""
    row = await raw.fetch_one(
        session, "SELECT * FROM booking_attempt(%s, %s, %s)", (occurrence_id, user_id, find_studio)
    )
    if row is None:
        raise scheduling_exc.ScheduleNotFound()
    if not row.user_active:
        return None
    state = MemberState(
        booked=row.booked,
        booked_status=row.booked_status,
        clash=row.clash,
        membership_status=row.membership_status,
    )
    return facts_from_row(row), state


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
) -> AsyncCursor[Any]:
    """Take a seat and insert the booking: confirmed with its QR code, or held until
    `hold_expires_at`. Sent with `raw.send` (in a `raw.pipeline`, with the block's other
    statements); `seat_taken` reads the answer. A second active booking of the same member
    for the same occurrence violates a partial unique index (psycopg's UniqueViolation,
    raised here or, in a pipeline, at the end of the block)."""
    status = "held" if hold_expires_at is not None else "confirmed"
    return await raw.send(
        session,
        _INSERT_WITH_SEAT,
        (
            occurrence_id,
            booking_id,
            user_id,
            status,
            credits_used,
            qr_code,
            qr_expires_at,
            hold_expires_at,
        ),
    )


async def seat_taken(sent: AsyncCursor[Any]) -> datetime | None:
    """The new booking's creation time, or None when no seat was free (nothing changed)."""
    row = await sent.fetchone()
    return None if row is None else row.created_at


# A marketplace seat: the same guard and seat pool as above, plus the class's cap on how
# many of its seats the marketplace may fill, checked and counted in the same UPDATE.
_INSERT_WITH_MARKETPLACE_SEAT = """
WITH seat AS (
    UPDATE class_schedules o
       SET booked_count = o.booked_count + 1, marketplace_booked = o.marketplace_booked + 1,
           updated_at = now()
      FROM classes c
     WHERE o.id = %s AND c.id = o.class_id AND o.booked_count < o.capacity
       AND o.status = 'scheduled'
       AND (c.marketplace_seats IS NULL OR o.marketplace_booked < c.marketplace_seats)
    RETURNING o.id, o.tenant_id
)
INSERT INTO bookings (id, tenant_id, user_id, class_schedule_id, status, booking_type,
                      credits_used, marketplace_fee, qr_code, qr_expires_at, hold_expires_at)
SELECT %s, seat.tenant_id, %s, seat.id, %s, 'marketplace', %s, %s, %s, %s, %s FROM seat
RETURNING created_at
"""


async def book_marketplace_seat(
    session: AsyncSession,
    *,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    credits_used: int,
    marketplace_fee: int,
    qr_code: str | None,
    qr_expires_at: datetime | None,
    hold_expires_at: datetime | None = None,
) -> datetime | None:
    """Take a marketplace seat and insert its booking: confirmed, or held until
    `hold_expires_at` while the member pays by card. None when the class is full or its
    marketplace seats are taken (nothing changed)."""
    status = "held" if hold_expires_at is not None else "confirmed"
    row = await raw.fetch_one(
        session,
        _INSERT_WITH_MARKETPLACE_SEAT,
        (
            occurrence_id,
            booking_id,
            user_id,
            status,
            credits_used,
            marketplace_fee,
            qr_code,
            qr_expires_at,
            hold_expires_at,
        ),
    )
    return None if row is None else row.created_at
