"""A rush on one class: never overbooked, credits exact. And the control without the guard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from studioloop.booking import repository
from studioloop.db import raw
from tests.booking.conftest import BookingStudio
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner

# Hundreds of requests at once on one pool of 20 connections: with other tests loading the
# machine, some wait longer than the pool's timeout and are answered 503. Alone, they
# do not.
pytestmark = pytest.mark.serial

SEATS = 20
RUSH = 300  # as many attempts as the proof asks for
CONTROL_RUSH = 60  # enough to show the race without the guard


async def _rush(
    studio: BookingStudio, occurrence_id: str, people: list[dict[str, Any]]
) -> list[Any]:
    return await asyncio.gather(
        *[
            studio.book(person, occurrence_id, join_waitlist=index % 2 == 0)
            for index, person in enumerate(people)
        ]
    )


async def test_a_rush_never_overbooks(
    studio: BookingStudio, owner_db: Owner, database, settings
) -> None:
    occurrence = await studio.occurrence(capacity=SEATS)
    people = await studio.many_members(database, settings, RUSH, credits=1)
    responses = await _rush(studio, occurrence["id"], people)
    outcomes = [r.json().get("status") or r.json()["error"]["code"] for r in responses]
    assert outcomes.count("confirmed") == SEATS
    assert set(outcomes) <= {"confirmed", "waitlisted", "CLASS_FULL"}
    assert owner_db.value("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == SEATS
    assert owner_db.value("SELECT booked_count FROM class_schedules") == SEATS
    assert owner_db.value("SELECT count(DISTINCT user_id) = count(*) FROM bookings") is True
    assert owner_db.value("SELECT sum(balance) FROM credit_accounts") == RUSH - SEATS
    ledger_matches_balances(owner_db)


async def test_control_read_then_write_overbooks(
    studio: BookingStudio, owner_db: Owner, monkeypatch, database, settings
) -> None:
    """Switch the single-statement guard for a read-then-write check: the race is real."""

    async def read_then_write(session: Any, **booking: Any) -> Any:
        # Plain SQL, as the real statement: it runs inside the booking's pipeline
        # (db/raw.py), where the ORM would not see its results.
        seen = await raw.fetch_one(
            session,
            "SELECT booked_count, capacity, tenant_id FROM class_schedules WHERE id = %s",
            (booking["occurrence_id"],),
        )
        if seen.booked_count >= seen.capacity:
            return await raw.send(session, "SELECT 1 WHERE false")  # no seat: no row
        await asyncio.sleep(0.01)  # the gap every read-check-then-write has
        await raw.send(
            session,
            "UPDATE class_schedules SET booked_count = %s WHERE id = %s",
            (seen.booked_count + 1, booking["occurrence_id"]),
        )
        return await raw.send(
            session,
            "INSERT INTO bookings (id, tenant_id, user_id, class_schedule_id, status, "
            "credits_used) VALUES (%s, %s, %s, %s, 'confirmed', %s) RETURNING created_at",
            (
                booking["booking_id"],
                seen.tenant_id,
                booking["user_id"],
                booking["occurrence_id"],
                booking["credits_used"],
            ),
        )

    monkeypatch.setattr(repository, "send_book_seat", read_then_write)
    occurrence = await studio.occurrence(capacity=SEATS)
    people = await studio.many_members(database, settings, CONTROL_RUSH, credits=1)
    await _rush(studio, occurrence["id"], people)
    confirmed = owner_db.value("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
    assert confirmed > SEATS, "without the guard the class should have been overbooked"
