"""Payouts: the ledger of what the platform owes a studio, and Connect transfers of it."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from studioloop.payments import tasks
from studioloop.payments.tasks import pay_out_studios
from tests.conftest import Api, Owner, assert_error
from tests.fakes.stripe import FakeStripe
from tests.payments.conftest import RunJobs, ShopStudio


@pytest.fixture
async def shop(stripe_client: Any, owner_db: Owner) -> ShopStudio:
    """A studio on the sandbox provider: the platform collects its money (5% fee)."""
    return await ShopStudio(Api(stripe_client, owner_db), "loop-yoga").setup()


async def _paid_pack(shop: ShopStudio, run_jobs: RunJobs, member: dict, **fields: Any) -> dict:
    package = await shop.package(**fields)
    checkout = (await shop.purchase(member, package["id"])).json()
    await shop.checkout(checkout["checkout_url"], "pay")
    await run_jobs()
    payment: dict = checkout["payment"]
    return payment


async def _payouts(shop: ShopStudio, who: dict | None = None) -> Any:
    return await shop.client.get(f"{shop.base}/payouts", headers=(who or shop.owner)["headers"])


async def _connect(shop: ShopStudio, account: str | None) -> None:
    changed = await shop.client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=shop.owner["headers"],
        json={"settings": {"stripe_account_id": account}},
    )
    assert changed.status_code == 200, changed.text


async def test_the_ledger_follows_payments_fees_and_refunds(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid_pack(shop, run_jobs, member)  # ZAR 125.00, fee 5%
    ledger = (await _payouts(shop)).json()
    assert ledger["balance"] == 12500 - 625 and ledger["currency"] == "ZAR"
    assert [(e["entry_type"], e["amount"]) for e in reversed(ledger["entries"])] == [
        ("payment", 12500),
        ("fee", -625),
    ]
    refund = await shop.client.post(
        f"{shop.base}/payments/{payment['id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": 5000, "reason": "Moved away"},
    )
    assert refund.status_code == 201, refund.text
    ledger = (await _payouts(shop)).json()
    assert ledger["balance"] == 11875 - 5000 + 250
    assert [(e["entry_type"], e["amount"]) for e in ledger["entries"][:2]] == [
        ("fee_refund", 250),
        ("refund", -5000),
    ]
    # The rest of it: fees come back in shares that add up to the whole fee.
    await shop.client.post(
        f"{shop.base}/payments/{payment['id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": 7500, "reason": "Moved away"},
    )
    assert (await _payouts(shop)).json()["balance"] == 0
    assert owner_db.value("SELECT balance FROM payout_accounts") == owner_db.value(
        "SELECT sum(amount) FROM payout_entries"
    )

    member_view = await _payouts(shop, member)
    assert_error(member_view, 403, "INSUFFICIENT_ROLE")
    with psycopg.connect(owner_db.conninfo) as conn:
        conn.execute("SET ROLE studioloop_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # append-only for the app
            conn.execute("UPDATE payout_entries SET amount = 1")


async def test_a_payout_goes_to_the_connected_account_once(
    shop: ShopStudio, fake_stripe: FakeStripe, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    await _paid_pack(shop, run_jobs, member)
    no_account = await shop.client.post(f"{shop.base}/payouts", headers=shop.owner["headers"])
    assert_error(no_account, 409, "PROVIDER_NOT_CONFIGURED")

    await _connect(shop, "acct_loopyoga")
    admin = await shop.new_member()
    owner_db.rows(
        "UPDATE user_tenant_roles SET role = 'admin' WHERE user_id = %s", admin["user"]["id"]
    )
    assert_error(
        await shop.client.post(f"{shop.base}/payouts", headers=admin["headers"]),
        403,
        "INSUFFICIENT_ROLE",
    )
    # Two at once: one transfer, one NOTHING_TO_PAY_OUT.
    first, second = await asyncio.gather(
        shop.client.post(f"{shop.base}/payouts", headers=shop.owner["headers"]),
        shop.client.post(f"{shop.base}/payouts", headers=shop.owner["headers"]),
    )
    answers = sorted([first.status_code, second.status_code])
    assert answers == [201, 409], (first.text, second.text)
    paid = first if first.status_code == 201 else second
    assert paid.json()["amount"] == -11875 and paid.json()["balance_after"] == 0
    assert [(t["amount"], t["currency"], t["destination"]) for t in fake_stripe.transfers] == [
        (11875, "zar", "acct_loopyoga")
    ]
    assert paid.json()["reference"] == fake_stripe.transfers[0]["id"]
    assert (await _payouts(shop)).json()["balance"] == 0


async def test_money_paid_straight_to_the_studio_is_not_owed(
    shop: ShopStudio, fake_stripe: FakeStripe, run_jobs: RunJobs
) -> None:
    """A destination charge lands on the studio's own account: nothing enters the ledger."""
    await shop.client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=shop.owner["headers"],
        json={"settings": {"payment_provider": "stripe", "stripe_account_id": "acct_loopyoga"}},
    )
    member = await shop.new_member()
    package = await shop.package()
    started = await shop.purchase(member, package["id"])
    assert started.status_code == 201, started.text
    ledger = (await _payouts(shop)).json()
    assert ledger["balance"] == 0 and ledger["entries"] == []


async def test_the_weekly_job_pays_out_connected_studios(
    shop: ShopStudio,
    fake_stripe: FakeStripe,
    run_jobs: RunJobs,
    stripe_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member = await shop.new_member()
    await _paid_pack(shop, run_jobs, member)
    assert await pay_out_studios(timestamp=0) == 0  # no connected account yet
    await _connect(shop, "acct_loopyoga")
    # The job reads the process's settings; give it the ones with the (fake) Stripe.
    monkeypatch.setattr(tasks, "get_settings", lambda: stripe_settings)
    assert await pay_out_studios(timestamp=0) == 1
    assert await pay_out_studios(timestamp=0) == 0  # nothing owed any more
    assert [t["amount"] for t in fake_stripe.transfers] == [11875]
    await shop.client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=shop.owner["headers"],
        json={"settings": {"automatic_payouts": False}},
    )
    await _paid_pack(shop, run_jobs, member, name="Five pack", credits=5, price=6000)
    assert await pay_out_studios(timestamp=0) == 0  # this studio pays out by hand


async def test_payouts_without_stripe_on_the_platform_are_refused_clearly(
    client: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    """The app's own settings have no Stripe keys: a connected studio still gets a 409."""
    studio = await ShopStudio(Api(client, owner_db), "loop-yoga").setup()
    member = await studio.new_member()
    await _paid_pack(studio, run_jobs, member)
    await _connect(studio, "acct_loopyoga")
    refused = await client.post(f"{studio.base}/payouts", headers=studio.owner["headers"])
    assert_error(refused, 409, "PROVIDER_NOT_CONFIGURED")
