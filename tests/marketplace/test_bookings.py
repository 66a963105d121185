"""Booking through the marketplace with universal credits: one seat pool with the studio's
own members, the marketplace's share of seats, and the studio's view of it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Api, Owner, assert_error
from tests.marketplace.conftest import (
    BOOK,
    MarketStudio,
    give_universal,
    universal_balance,
)


async def _marketplace_book(api: Api, person: dict[str, Any], occurrence_id: str, **extra: Any):
    return await api.client.post(
        BOOK, headers=person["headers"], json={"class_schedule_id": occurrence_id, **extra}
    )


async def _explorer(api: Api, operator: dict[str, Any], credits: int) -> dict[str, Any]:
    """Someone from the marketplace: universal credits, no studio of their own."""
    person = await api.signup(first_name="Explorer")
    if credits:
        await give_universal(api, operator, person, credits)
    return person


async def test_book_anywhere_with_universal_credits(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(name="Sunset Flow", credits_required=2)
    explorer = await _explorer(api, operator, 5)
    response = await _marketplace_book(api, explorer, occurrence["id"], credits_to_use=2)
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "confirmed"
    assert booking["booking_type"] == "marketplace"
    assert booking["credits_used"] == 2
    assert booking["qr_code"]
    assert booking["studio"]["slug"] == "sea-point-yoga"
    assert await universal_balance(api, explorer) == 3

    # The studio sees the booking on its roster; the member among their bookings.
    roster = await api.client.get(
        f"{market.base}/schedules/{occurrence['id']}/bookings", headers=market.owner["headers"]
    )
    assert roster.status_code == 200, roster.text
    assert [r["booking_id"] for r in roster.json()] == [booking["id"]]
    mine = await api.client.get("/api/v1/bookings", headers=explorer["headers"])
    assert [b["id"] for b in mine.json()] == [booking["id"]]
    # Another studio sees nothing of it.
    other = await MarketStudio(api, "other-studio").setup()
    foreign = await api.client.get(
        f"{other.base}/bookings/{booking['id']}", headers=other.owner["headers"]
    )
    assert foreign.status_code == 404
    roster = await api.client.get(
        f"{other.base}/schedules/{occurrence['id']}/bookings", headers=other.owner["headers"]
    )
    assert roster.status_code == 404 or roster.json() == [], roster.text
    ledger_matches_balances(owner_db)
    fee = owner_db.value("SELECT marketplace_fee FROM bookings WHERE id = %s", booking["id"])
    assert fee == 2 * 5000 * 1500 // 10_000  # the platform defaults


async def test_short_of_universal_credits_changes_nothing(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(credits_required=3)
    explorer = await _explorer(api, operator, 2)
    market.member_with_studio_credits = await market.new_member(credits=10)
    error = assert_error(
        await _marketplace_book(api, explorer, occurrence["id"]), 402, "INSUFFICIENT_CREDITS"
    )
    assert error["details"]["required"] == 3
    assert error["details"]["balance"] == 2
    assert owner_db.value("SELECT count(*) FROM bookings") == 0
    assert owner_db.value("SELECT count(*) FROM payout_entries") == 0
    assert owner_db.value("SELECT booked_count FROM class_schedules") == 0
    # Studio credits never pay for a marketplace booking.
    assert_error(
        await _marketplace_book(api, market.member_with_studio_credits, occurrence["id"]),
        402,
        "INSUFFICIENT_CREDITS",
    )
    assert_error(
        await _marketplace_book(api, explorer, occurrence["id"], credits_to_use=1),
        422,
        "VALIDATION_ERROR",
    )
    assert (
        await api.client.post(BOOK, json={"class_schedule_id": occurrence["id"]})
    ).status_code == 401


async def test_only_what_the_studio_offers_can_be_booked(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    explorer = await _explorer(api, operator, 10)
    private = await market.listing(is_private=True)
    closed = await market.listing(marketplace_seats=0)
    members_only = await market.listing(requires_membership=True)
    for occurrence in (private, closed):
        assert_error(
            await _marketplace_book(api, explorer, occurrence["id"]), 404, "NOT_ON_MARKETPLACE"
        )
    assert_error(
        await _marketplace_book(api, explorer, members_only["id"]), 403, "MEMBERSHIP_REQUIRED"
    )
    open_class = await market.listing()
    owner_db.rows("UPDATE tenants SET marketplace_enabled = false WHERE slug = %s", market.slug)
    # (The tenant cache may still hold the studio; the offer is read fresh.)
    assert_error(
        await _marketplace_book(api, explorer, open_class["id"]), 404, "NOT_ON_MARKETPLACE"
    )
    assert_error(
        await _marketplace_book(api, explorer, "00000000-0000-0000-0000-00000000abcd"),
        404,
        "SCHEDULE_NOT_FOUND",
    )
    assert await universal_balance(api, explorer) == 10


async def test_marketplace_seats_are_capped_and_share_the_class_pool(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(capacity=3, marketplace_seats=1)
    first, second = [await _explorer(api, operator, 5) for _ in range(2)]
    assert (await _marketplace_book(api, first, occurrence["id"])).status_code == 201
    assert_error(await _marketplace_book(api, second, occurrence["id"]), 409, "CLASS_FULL")
    assert_error(await _marketplace_book(api, first, occurrence["id"]), 409, "ALREADY_BOOKED")
    # The studio's own members fill the rest; then the class is full for everyone.
    for _ in range(2):
        member = await market.new_member(credits=1)
        assert (await market.book(member, occurrence["id"])).status_code == 201
    late = await market.new_member(credits=1)
    assert_error(await market.book(late, occurrence["id"]), 409, "CLASS_FULL")
    counts = owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    )
    assert counts == [(3, 1)]
    assert await universal_balance(api, second) == 5


async def test_racing_for_marketplace_seats_never_oversells(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(capacity=20, marketplace_seats=4)
    people = [await _explorer(api, operator, 3) for _ in range(16)]
    answers = await asyncio.gather(
        *(_marketplace_book(api, person, occurrence["id"]) for person in people)
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 4, [a.text for a in answers if a.status_code != 201][:3]
    assert set(codes) == {201, 409}
    assert owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    ) == [(4, 4)]
    assert (
        owner_db.value("SELECT count(*) FROM payout_entries WHERE entry_type = 'marketplace'") == 4
    )
    ledger_matches_balances(owner_db)


async def test_cancelling_gives_universal_credits_back_and_reverses_the_settlement(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(capacity=5, marketplace_seats=1, credits_required=2)
    explorer = await _explorer(api, operator, 4)
    booking = (await _marketplace_book(api, explorer, occurrence["id"])).json()
    cancelled = await api.client.delete(
        f"/api/v1/bookings/{booking['id']}", headers=explorer["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["credits_refunded"] == 2
    assert await universal_balance(api, explorer) == 4
    assert owner_db.rows("SELECT entry_type, amount FROM payout_entries ORDER BY seq") == [
        ("marketplace", 10_000),
        ("commission", -1_500),
        ("marketplace_refund", -10_000),
        ("commission_refund", 1_500),
    ]
    assert owner_db.value("SELECT balance FROM payout_accounts") == 0
    # The marketplace's seat is free again.
    again = await _marketplace_book(api, explorer, occurrence["id"])
    assert again.status_code == 201, again.text
    ledger_matches_balances(owner_db)


async def test_a_late_cancellation_keeps_the_studio_paid(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing(hours_ahead=2, cancellation_window_hours=12)
    explorer = await _explorer(api, operator, 2)
    booking = (await _marketplace_book(api, explorer, occurrence["id"])).json()
    cancelled = await api.client.delete(
        f"/api/v1/bookings/{booking['id']}", headers=explorer["headers"]
    )
    assert cancelled.json()["late_cancellation"] is True
    assert await universal_balance(api, explorer) == 1
    assert owner_db.value("SELECT balance FROM payout_accounts") == 5_000 - 750


async def test_a_class_cancelled_by_the_studio_refunds_marketplace_bookings(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing()
    explorer = await _explorer(api, operator, 1)
    assert (await _marketplace_book(api, explorer, occurrence["id"])).status_code == 201
    response = await api.client.post(
        f"{market.base}/schedules/{occurrence['id']}/cancel",
        headers=market.owner["headers"],
        json={"reason": "Flooded"},
    )
    assert response.status_code == 200, response.text
    assert await universal_balance(api, explorer) == 1
    assert owner_db.value("SELECT balance FROM payout_accounts") == 0
    assert owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    ) == [(0, 0)]


async def test_a_retried_booking_books_once(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    occurrence = await market.listing()
    explorer = await _explorer(api, operator, 3)
    headers = {**explorer["headers"], "Idempotency-Key": "mkt-retry-1"}
    body = {"class_schedule_id": occurrence["id"]}
    first = await api.client.post(BOOK, headers=headers, json=body)
    second = await api.client.post(BOOK, headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert await universal_balance(api, explorer) == 2
    assert (
        owner_db.value("SELECT count(*) FROM payout_entries WHERE entry_type = 'marketplace'") == 1
    )
