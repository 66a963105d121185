"""A marketplace seat paid by card: held while the member pays, the commission taken as
the platform's fee on the payment, on the studio's statement, and given back on refund."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, Owner, assert_error
from tests.marketplace.conftest import BOOK, MarketStudio
from tests.payments.conftest import RunJobs, run_jobs

__all__ = ["run_jobs"]  # the fixture

PRICE = 15_000


async def _card(api: Api, person: dict[str, Any], occurrence_id: str):
    return await api.client.post(
        BOOK,
        headers=person["headers"],
        json={"class_schedule_id": occurrence_id, "pay_with": "card"},
    )


async def test_a_marketplace_seat_paid_by_card(
    market: MarketStudio, api: Api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    occurrence = await market.listing(price=PRICE, capacity=4, marketplace_seats=1)
    explorer = await api.signup(first_name="Explorer")
    held = assert_error(await _card(api, explorer, occurrence["id"]), 402, "PAYMENT_REQUIRED")
    details = held["details"]
    assert details["price"] == PRICE
    assert details["checkout_url"].startswith("http://testserver/sandbox/checkout/")
    assert owner_db.rows(
        "SELECT status, booking_type, marketplace_fee FROM bookings WHERE id = %s",
        details["booking_id"],
    ) == [("held", "marketplace", 2_250)]
    assert owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    ) == [(1, 1)]
    # The one marketplace seat is held: nobody else gets it through the marketplace.
    other = await api.signup(first_name="Other")
    assert_error(await _card(api, other, occurrence["id"]), 409, "CLASS_FULL")
    assert (
        owner_db.value("SELECT platform_fee FROM payments WHERE id = %s", details["payment_id"])
        == 2_250
    )

    await market.checkout(details["checkout_url"], "pay")
    await run_jobs()
    assert owner_db.value("SELECT status FROM bookings WHERE id = %s", details["booking_id"]) == (
        "confirmed"
    )
    assert owner_db.rows("SELECT entry_type, amount FROM payout_entries ORDER BY seq") == [
        ("payment", PRICE),
        ("fee", -2_250),
    ]
    statement = (
        await api.client.get(
            f"{market.base}/marketplace/statement", headers=market.owner["headers"]
        )
    ).json()
    [line] = statement["lines"]
    assert (line["paid_with"], line["gross"], line["commission"], line["net"]) == (
        "card",
        PRICE,
        2_250,
        12_750,
    )

    # Cancelled in good time: the money goes back, the commission with it, the seat too.
    cancelled = await api.client.delete(
        f"/api/v1/bookings/{details['booking_id']}", headers=explorer["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    await run_jobs()
    assert owner_db.value("SELECT amount_refunded FROM payments") == PRICE
    assert owner_db.value("SELECT balance FROM payout_accounts") == 0
    assert owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    ) == [(0, 0)]


async def test_an_unpaid_marketplace_hold_gives_its_seat_back(
    market: MarketStudio, api: Api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    occurrence = await market.listing(price=PRICE, marketplace_seats=1)
    explorer = await api.signup(first_name="Explorer")
    details = assert_error(await _card(api, explorer, occurrence["id"]), 402, "PAYMENT_REQUIRED")[
        "details"
    ]
    await market.checkout(details["checkout_url"], "decline")
    await run_jobs()
    assert owner_db.value("SELECT status FROM bookings") == "expired"
    assert owner_db.rows(
        "SELECT booked_count, marketplace_booked FROM class_schedules WHERE id = %s",
        occurrence["id"],
    ) == [(0, 0)]


async def test_card_is_refused_where_the_commission_cannot_be_taken(
    market: MarketStudio, api: Api, owner_db: Owner
) -> None:
    credits_only = await market.listing()  # no drop-in price
    explorer = await api.signup(first_name="Explorer")
    assert_error(await _card(api, explorer, credits_only["id"]), 409, "CARD_NOT_AVAILABLE")
    priced = await market.listing(price=PRICE)
    owner_db.rows(
        'UPDATE tenants SET settings = settings || \'{"payment_provider": "yoco"}\' '
        "WHERE slug = %s",
        market.slug,
    )
    assert_error(await _card(api, explorer, priced["id"]), 409, "CARD_NOT_AVAILABLE")
    found = await api.client.get("/api/v1/marketplace/search", params={"q": "vinyasa"})
    assert {item["price"] for item in found.json()["items"]} == {None}
    assert owner_db.value("SELECT count(*) FROM bookings") == 0


async def test_a_card_seat_pays_the_studio_at_least_its_floor(
    market: MarketStudio, api: Api, owner_db: Owner
) -> None:
    floor = await api.client.patch(
        f"{market.base}/marketplace/terms",
        headers=market.owner["headers"],
        json={"floor_price": 20_000},
    )
    assert floor.status_code == 200, floor.text
    occurrence = await market.listing(price=PRICE)
    # ceil(20000 / 0.85) = 23530: after 15% the studio keeps 20000.50, rounded down 20000.
    found = await api.client.get("/api/v1/marketplace/search", params={"q": "vinyasa"})
    assert [item["price"] for item in found.json()["items"]] == [23_530]
    explorer = await api.signup(first_name="Explorer")
    details = assert_error(await _card(api, explorer, occurrence["id"]), 402, "PAYMENT_REQUIRED")[
        "details"
    ]
    assert details["price"] == 23_530
    amount, fee = owner_db.rows("SELECT amount, platform_fee FROM payments")[0]
    assert (amount, amount - fee) == (23_530, 20_000)
