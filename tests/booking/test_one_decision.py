"""One decision: a rule changed in `eligibility` changes every way to take a seat alike.

The rule "a class is full when no seat is free" is swapped for "...when one seat is left"
(a studio keeping a seat back), and then a direct booking, a marketplace booking, the
payment of a seat hold that lapsed and the rush gate all answer by the new rule; put back,
they all answer by the old one. Nothing else is changed: the paths ask `decide`, so none
of them has a copy of the rule to drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from studioloop.booking import eligibility, exceptions as exc
from studioloop.booking.eligibility import Attempt, Intent
from studioloop.booking.tasks import expire_seat_holds
from studioloop.core.errors import AppError
from tests.booking.test_rush_gate import endpoint_calls
from tests.conftest import Api, Owner, assert_error
from tests.marketplace.conftest import BOOK, MarketStudio, give_universal, market, operator
from tests.payments.conftest import RunJobs, run_jobs

__all__ = ["endpoint_calls", "market", "operator", "run_jobs"]  # the fixtures, used here


def keep_one_seat_back(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    facts = attempt.facts
    if facts.booked_count >= facts.capacity - 1:
        return exc.ClassFull(details={"capacity": facts.capacity})
    return eligibility.seat_free(attempt, intent, now)


async def test_one_rule_changes_every_path_alike(
    market: MarketStudio,
    api: Api,
    operator: dict[str, Any],
    owner_db: Owner,
    run_jobs: RunJobs,
    endpoint_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    occurrence = await market.listing(name="Kept back", capacity=2, price=15000)
    # A seat held for a card payment, which lapses before the money arrives.
    slow = await market.new_member()
    held = assert_error(await market.book(slow, occurrence["id"]), 402, "PAYMENT_REQUIRED")
    owner_db.rows(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = %s",
        held["details"]["booking_id"],
    )
    assert await expire_seat_holds(timestamp=0) == 1
    first = await market.new_member(credits=2)
    assert (await market.book(first, occurrence["id"])).status_code == 201  # one seat left

    rules = [keep_one_seat_back if r is eligibility.seat_free else r for r in eligibility.RULES]
    monkeypatch.setattr(eligibility, "RULES", rules)

    direct, late = await market.new_member(credits=2), await market.new_member(credits=2)
    assert_error(await market.book(direct, occurrence["id"]), 409, "CLASS_FULL")
    # That refusal made this process remember the class full (for two seconds): the rush
    # gate now answers at the door, by the same decision.
    reached = len(endpoint_calls)
    assert_error(await market.book(late, occurrence["id"]), 409, "CLASS_FULL")
    assert len(endpoint_calls) == reached  # answered before the endpoint
    explorer = await api.signup(first_name="Explorer")
    await give_universal(api, operator, explorer, 5)
    through_marketplace = await api.client.post(
        BOOK, headers=explorer["headers"], json={"class_schedule_id": occurrence["id"]}
    )
    assert_error(through_marketplace, 409, "CLASS_FULL")
    # The lapsed hold's payment arrives: the same rule refuses it the seat, and refunds.
    await market.checkout(held["details"]["checkout_url"], "pay")
    await run_jobs()
    status = owner_db.value(
        "SELECT status FROM bookings WHERE id = %s", held["details"]["booking_id"]
    )
    assert status == "expired"
    assert str(owner_db.value("SELECT reason FROM payment_refunds")).startswith(
        "Refunded automatically: the class filled up"
    )

    monkeypatch.undo()  # the usual rule again: every path offers the free seat
    assert (await market.book(late, occurrence["id"])).status_code == 201
    assert (
        owner_db.value("SELECT booked_count FROM class_schedules WHERE id = %s", occurrence["id"])
        == 2
    )
