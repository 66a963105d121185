"""An occurrence's roster for its staff: who is booked, who waits and in what order."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.booking.models import Booking


async def roster(session: AsyncSession, occurrence_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Booking, User.first_name, User.last_name, User.email)
        .join(User, User.id == Booking.user_id)
        .where(Booking.class_schedule_id == occurrence_id, Booking.status != "cancelled")
        .order_by(Booking.status, Booking.waitlisted_at.nulls_first(), User.last_name)
    )
    entries = []
    position = 0
    for booking, first, last, email in rows:
        if booking.status == "waitlisted":
            position += 1
        entries.append(
            {
                "booking_id": booking.id,
                "user_id": booking.user_id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "status": booking.status,
                "waitlist_position": position if booking.status == "waitlisted" else None,
                "check_in_time": booking.check_in_time,
            }
        )
    return entries
