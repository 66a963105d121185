"""Commission and payout arithmetic in minor units, a studio's terms, and its statement."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, strategies as st

from studioloop.marketplace.pricing import Terms, credits_for, settle
from tests.conftest import Api, Owner, assert_error
from tests.marketplace.conftest import BOOK, SEARCH, MarketStudio, give_universal


@given(
    credits_required=st.integers(0, 20),
    payout_rate=st.integers(1, 100_000),
    commission=st.integers(0, 9_999),
    floor=st.integers(0, 500_000),
)
def test_a_seat_never_pays_the_studio_less_than_its_floor(
    credits_required: int, payout_rate: int, commission: int, floor: int
) -> None:
    terms = Terms(payout_rate, commission, floor)
    credits = credits_for(credits_required, terms)
    assert credits >= credits_required
    settled = settle(credits, terms)
    assert settled.gross == credits * payout_rate
    assert settled.commission + settled.net == settled.gross
    assert settled.commission >= settled.gross * commission / 10_000  # the cent's remainder
    assert settled.commission - settled.gross * commission / 10_000 < 1
    if floor and credits > credits_required:
        assert settled.net >= floor
        # ... and one credit fewer would not have covered it.
        assert settle(credits - 1, terms).net < floor


def test_the_studios_share_is_rounded_down_to_the_cent() -> None:
    settled = settle(3, Terms(payout_rate=4_321, commission_basis_points=1_250, floor_price=0))
    # 12963 x 0.875 = 11342.625
    assert (settled.gross, settled.commission, settled.net) == (12_963, 1_621, 11_342)


async def _terms(api: Api, studio: MarketStudio, user: dict[str, Any], **body: Any):
    return await api.client.patch(
        f"{studio.base}/marketplace/terms", headers=user["headers"], json=body
    )


async def test_admins_set_the_floor_and_only_the_operator_the_commission(
    market: MarketStudio, api: Api, operator: dict[str, Any]
) -> None:
    own = await api.client.get(f"{market.base}/marketplace/terms", headers=market.owner["headers"])
    assert own.json() == {
        "payout_rate": 5_000,
        "commission_basis_points": 1_500,
        "floor_price": 0,
        "currency": "ZAR",
        "marketplace_enabled": True,
    }
    floor = await _terms(api, market, market.owner, floor_price=12_000)
    assert floor.status_code == 200, floor.text
    assert floor.json()["floor_price"] == 12_000
    assert_error(
        await _terms(api, market, market.owner, commission_basis_points=0), 403, "FORBIDDEN"
    )
    assert_error(await _terms(api, market, market.member, floor_price=0), 403, "INSUFFICIENT_ROLE")
    assert_error(
        await _terms(api, market, operator, commission_basis_points=10_000), 422, "VALIDATION_ERROR"
    )
    deal = await _terms(api, market, operator, payout_rate=4_321, commission_basis_points=1_250)
    assert deal.status_code == 200, deal.text
    assert deal.json()["floor_price"] == 12_000  # untouched
    back = await _terms(api, market, operator, commission_basis_points=None)
    assert back.json()["commission_basis_points"] == 1_500
    other = await MarketStudio(api, "other-studio").setup()
    assert_error(
        await api.client.get(f"{other.base}/marketplace/terms", headers=market.owner["headers"]),
        403,
        "INSUFFICIENT_ROLE",
    )


async def test_floor_price_sets_the_credit_price_and_the_statement_adds_up(
    market: MarketStudio, api: Api, operator: dict[str, Any], owner_db: Owner
) -> None:
    await _terms(api, market, operator, payout_rate=4_321, commission_basis_points=1_250)
    await _terms(api, market, market.owner, floor_price=10_000)
    occurrence = await market.listing(name="=HYPERLINK(1)", credits_required=1)
    # ceil(10000 / (43.21 x 0.875)) = 3 credits; the search says the same as the booking.
    found = await api.client.get(SEARCH, params={"lat": -33.92, "lng": 18.42})
    assert [i["credits"] for i in found.json()["items"]] == [3]

    explorers = []
    for _ in range(2):
        person = await api.signup(first_name="Explorer")
        await give_universal(api, operator, person, 3)
        explorers.append(person)
        booked = await api.client.post(
            BOOK, headers=person["headers"], json={"class_schedule_id": occurrence["id"]}
        )
        assert booked.status_code == 201, booked.text
        assert booked.json()["credits_used"] == 3
    cancelled = await api.client.delete(
        f"/api/v1/bookings/{booked.json()['id']}", headers=explorers[1]["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text

    statement = await api.client.get(
        f"{market.base}/marketplace/statement", headers=market.owner["headers"]
    )
    assert statement.status_code == 200, statement.text
    body = statement.json()
    assert [(line["gross"], line["commission"], line["net"]) for line in body["lines"]] == [
        (12_963, 1_621, 11_342),
        (0, 0, 0),  # booked and cancelled in the same period
    ]
    # Two listed, one still owed for (the other was cancelled in the same period).
    assert (body["bookings"], body["credits"], body["gross"], body["net"]) == (1, 3, 12_963, 11_342)
    assert owner_db.value("SELECT balance FROM payout_accounts") == 11_342

    exported = await api.client.get(
        f"{market.base}/marketplace/statement.csv", headers=market.owner["headers"]
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][-3:] == ["gross_ZAR", "commission_ZAR", "net_ZAR"]
    assert rows[1][2] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[1][-5:] == ["credits", "3", "129.63", "16.21", "113.42"]
    assert rows[-1][0] == "total" and rows[-1][-1] == "113.42"

    # Last month's statement is empty; members and other studios see none of it.
    today = datetime.now(UTC).date()
    last_month = await api.client.get(
        f"{market.base}/marketplace/statement",
        params={"to": today.replace(day=1).isoformat()},
        headers=market.owner["headers"],
    )
    assert last_month.json()["lines"] == []
    assert_error(
        await api.client.get(
            f"{market.base}/marketplace/statement", headers=explorers[0]["headers"]
        ),
        403,
        "INSUFFICIENT_ROLE",
    )
    backwards = await api.client.get(
        f"{market.base}/marketplace/statement",
        params={"from": today.isoformat(), "to": (today - timedelta(days=3)).isoformat()},
        headers=market.owner["headers"],
    )
    assert_error(backwards, 422, "VALIDATION_ERROR")
