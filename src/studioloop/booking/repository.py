"""The booking path's statements, in plain SQL on the request's connection (db/raw.py).

These run for every booking attempt, so each is one round trip with nothing between the
driver and PostgreSQL; the rest of the domain uses the ORM.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

# The member's active booking of this occurrence, and a confirmed booking of theirs that
# overlaps it in time, in one statement.
_MEMBER_STATE = """
SELECT (SELECT b.id FROM bookings b
         WHERE b.class_schedule_id = %(occurrence)s AND b.user_id = %(user)s
           AND b.status IN ('confirmed', 'waitlisted')
         LIMIT 1) AS booked,
       (SELECT b.id FROM bookings b
          JOIN class_schedules o ON o.id = b.class_schedule_id
         WHERE b.user_id = %(user)s AND b.status = 'confirmed'
           AND o.start_time < %(end)s AND o.end_time > %(start)s
         LIMIT 1) AS clash
"""

_INSERT_CONFIRMED = """
INSERT INTO bookings (id, tenant_id, user_id, class_schedule_id, status, credits_used,
                      qr_code, qr_expires_at)
VALUES (%s, %s, %s, %s, 'confirmed', %s, %s, %s)
RETURNING created_at
"""


@dataclass(frozen=True)
class MemberState:
    booked: uuid.UUID | None  # their active (confirmed or waitlisted) booking of this class
    clash: uuid.UUID | None  # their confirmed booking of an overlapping class


async def member_state(
    session: AsyncSession,
    occurrence_id: uuid.UUID,
    user_id: uuid.UUID,
    start_time: datetime,
    end_time: datetime,
) -> MemberState:
    row = await raw.fetch_one(
        session,
        _MEMBER_STATE,
        {"occurrence": occurrence_id, "user": user_id, "start": start_time, "end": end_time},
    )
    assert row is not None  # a SELECT without FROM always returns its one row
    return MemberState(booked=row.booked, clash=row.clash)


async def insert_confirmed(
    session: AsyncSession,
    *,
    booking_id: uuid.UUID,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    credits_used: int,
    qr_code: str,
    qr_expires_at: datetime,
) -> datetime:
    """Insert a confirmed booking; its creation time. A second active booking of the same
    member for the same occurrence violates a partial unique index (UniqueViolation)."""
    row = await raw.fetch_one(
        session,
        _INSERT_CONFIRMED,
        (booking_id, tenant_id, user_id, occurrence_id, credits_used, qr_code, qr_expires_at),
    )
    assert row is not None
    created_at: datetime = row.created_at
    return created_at
