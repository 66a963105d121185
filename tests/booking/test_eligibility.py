"""The booking decision on its own: pure, so every rule and its order is checked here
without a database (the paths that ask it are tested end to end elsewhere)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from studioloop.booking import eligibility as e, exceptions as exc
from studioloop.core.errors import ValidationFailed

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def attempt(**changes: Any) -> e.Attempt:
    facts = e.OccurrenceFacts(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        class_id=uuid.uuid4(),
        class_name="Flow",
        class_type="yoga",
        credits_required=2,
        requires_membership=False,
        price=None,
        currency="ZAR",
        start_time=NOW + timedelta(hours=30),
        end_time=NOW + timedelta(hours=31),
        status="scheduled",
        capacity=10,
        booked_count=3,
        booking_window=timedelta(days=7),
        cancellation_window=timedelta(hours=24),
        tenant_settings={},
    )
    fact_changes = {k: changes.pop(k) for k in list(changes) if hasattr(facts, k)}
    base = e.Attempt(
        facts=replace(facts, **fact_changes),
        user_id=uuid.uuid4(),
        booked=None,
        booked_status=None,
        clash=None,
        membership_status="active",
        future_bookings=None,
        same_day_bookings=None,
        entitlement=e.Entitlement(),
    )
    return replace(base, **changes)


def refusal(decision: e.Decision) -> type[Exception] | None:
    return type(decision.error) if isinstance(decision, e.Refused) else None


def test_a_free_seat_is_taken_for_its_credits() -> None:
    assert e.decide(attempt(), e.Intent(), NOW) == e.TakeSeat(2, join_studio=False)
    assert e.decide(attempt(membership_status=None), e.Intent(), NOW) == e.TakeSeat(
        2, join_studio=True
    )


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"status": "cancelled"}, exc.ClassCancelled),
        ({"start_time": NOW - timedelta(minutes=1)}, exc.BookingWindowClosed),
        ({"start_time": NOW + timedelta(days=9)}, exc.BookingNotOpen),
        ({"booked": uuid.uuid4(), "booked_status": "confirmed"}, exc.AlreadyBooked),
        ({"clash": uuid.uuid4()}, exc.MemberScheduleConflict),
        ({"booked_count": 10}, exc.ClassFull),
        ({"membership_status": "suspended"}, exc.MembershipInactive),
        ({"requires_membership": True}, exc.MembershipRequired),
        (
            {"tenant_settings": {"max_future_bookings": 2}, "future_bookings": 2},
            exc.BookingLimitReached,
        ),
        (
            {"tenant_settings": {"max_daily_bookings_per_class_type": 1}, "same_day_bookings": 1},
            exc.BookingLimitReached,
        ),
    ],
)
def test_each_rule_refuses(changes: dict[str, Any], refused: type[Exception]) -> None:
    assert refusal(e.decide(attempt(**changes), e.Intent(), NOW)) is refused


def test_the_rules_are_asked_in_one_order() -> None:
    # A clash is reported before a full class, a full class before an inactive membership.
    both = attempt(clash=uuid.uuid4(), booked_count=10, membership_status="suspended")
    assert refusal(e.decide(both, e.Intent(), NOW)) is exc.MemberScheduleConflict
    full = attempt(booked_count=10, membership_status="suspended")
    assert refusal(e.decide(full, e.Intent(), NOW)) is exc.ClassFull
    assert refusal(e.decide(full, e.Intent(join_waitlist=True), NOW)) is exc.MembershipInactive


def test_a_full_class_offers_the_waitlist_and_a_held_seat_resumes() -> None:
    full = attempt(booked_count=10)
    assert e.decide(full, e.Intent(join_waitlist=True), NOW) == e.JoinWaitlist(False)
    held = attempt(booked=uuid.uuid4(), booked_status="held")
    assert e.decide(held, e.Intent(), NOW) == e.ResumeHold(held.booked, 2)  # type: ignore[arg-type]


def test_what_a_seat_costs() -> None:
    unlimited = e.Entitlement(has_membership=True, unlimited=True)
    assert e.decide(attempt(entitlement=unlimited), e.Intent(), NOW) == e.TakeSeat(0, False)
    yoga_only = replace(unlimited, unlimited_class_types=frozenset({"pilates"}))
    assert e.decide(attempt(entitlement=yoga_only), e.Intent(), NOW) == e.TakeSeat(2, False)
    card_only = attempt(credits_required=0, price=15000)
    assert e.decide(card_only, e.Intent(), NOW) == e.TakeSeat(0, False, hold_for_card=True)
    wrong = e.decide(attempt(), e.Intent(credits_to_use=1), NOW)
    assert refusal(wrong) is ValidationFailed


def test_the_marketplace_asks_the_same_rules_with_its_own_price_and_share() -> None:
    market = e.Intent(channel="marketplace", marketplace_credits=5)
    assert e.decide(attempt(), market, NOW) == e.TakeSeat(5, False)
    by_card = replace(market, by_card=True)
    assert e.decide(attempt(), by_card, NOW) == e.TakeSeat(0, False, hold_for_card=True)
    share_gone = attempt(marketplace_seats=2, marketplace_booked=2)
    assert refusal(e.decide(share_gone, market, NOW)) is exc.ClassFull
    members_only = attempt(requires_membership=True, entitlement=e.Entitlement(has_membership=True))
    assert refusal(e.decide(members_only, market, NOW)) is exc.MembershipRequired
    full = attempt(booked_count=10)
    assert refusal(e.decide(full, replace(market, join_waitlist=True), NOW)) is exc.ClassFull


def test_a_promotion_and_a_late_payment() -> None:
    promotion = e.Intent(channel="promotion")
    waiting = attempt(booked=uuid.uuid4(), booked_status="waitlisted")
    assert e.decide(waiting, promotion, NOW) == e.TakeSeat(2, False)
    assert refusal(e.decide(replace(waiting, clash=uuid.uuid4()), promotion, NOW)) is (
        exc.MemberScheduleConflict
    )
    too_close = attempt(start_time=NOW + timedelta(minutes=30))
    assert refusal(e.decide(too_close, promotion, NOW)) is exc.BookingWindowClosed
    # Both were asked when the member first booked: the booking window and the caps.
    far = attempt(start_time=NOW + timedelta(days=9), tenant_settings={"max_future_bookings": 1})
    assert e.decide(replace(far, future_bookings=1), promotion, NOW) == e.TakeSeat(2, False)
    paid = e.Intent(channel="paid_hold")
    assert e.decide(far, paid, NOW) == e.TakeSeat(0, False)
    assert refusal(e.decide(attempt(booked_count=10), paid, NOW)) is exc.ClassFull
