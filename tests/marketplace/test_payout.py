"""What the marketplace owes a studio is paid out with the rest of its payout balance, as a
Stripe Connect transfer (against a local fake Stripe)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Owner
from tests.fakes.stripe import FakeStripe
from tests.marketplace.conftest import BOOK, MarketStudio, give_universal, make_operator


@pytest.fixture
async def market(stripe_client: Any, owner_db: Owner) -> MarketStudio:
    return await MarketStudio(Api(stripe_client, owner_db), "sea-point-yoga").setup()


async def test_marketplace_earnings_are_paid_out_by_connect_transfer(
    market: MarketStudio, owner_db: Owner, fake_stripe: FakeStripe
) -> None:
    api = market.api
    operator = await make_operator(api, owner_db)
    explorer = await api.signup(first_name="Explorer")
    await give_universal(api, operator, explorer, 2)
    occurrence = await market.listing(credits_required=2)
    booked = await api.client.post(
        BOOK, headers=explorer["headers"], json={"class_schedule_id": occurrence["id"]}
    )
    assert booked.status_code == 201, booked.text

    ledger = (
        await api.client.get(f"{market.base}/payouts", headers=market.owner["headers"])
    ).json()
    assert ledger["balance"] == 8_500
    assert [(e["entry_type"], e["amount"], e["booking_id"]) for e in ledger["entries"]] == [
        ("commission", -1_500, booked.json()["id"]),
        ("marketplace", 10_000, booked.json()["id"]),
    ]
    connected = await api.client.patch(
        f"/api/v1/tenants/{market.slug}",
        headers=market.owner["headers"],
        json={"settings": {"stripe_account_id": "acct_seapoint"}},
    )
    assert connected.status_code == 200, connected.text
    paid = await api.client.post(f"{market.base}/payouts", headers=market.owner["headers"])
    assert paid.status_code == 201, paid.text
    assert [(t["amount"], t["destination"]) for t in fake_stripe.transfers] == [
        (8_500, "acct_seapoint")
    ]
    assert owner_db.value("SELECT balance FROM payout_accounts") == 0
