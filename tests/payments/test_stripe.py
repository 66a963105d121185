"""Stripe through the real SDK, against a local fake Stripe: checkout with a destination
charge, signed webhooks, refunds."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from studioloop.config import Settings
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments import reconciliation
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Api, Owner, assert_error
from tests.fakes.stripe import FakeStripe, sign
from tests.payments.conftest import RunJobs, ShopStudio

WEBHOOK = "/api/v1/webhooks/stripe"


@pytest.fixture
async def shop(stripe_client: Any, owner_db: Owner) -> ShopStudio:
    studio = await ShopStudio(Api(stripe_client, owner_db), "loop-yoga").setup()
    chosen = await stripe_client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=studio.owner["headers"],
        json={"settings": {"payment_provider": "stripe", "stripe_account_id": "acct_loopyoga"}},
    )
    assert chosen.status_code == 200, chosen.text
    return studio


async def _checkout(shop: ShopStudio, member: dict, package: dict | None = None) -> dict:
    package = package or await shop.package()
    started = await shop.purchase(member, package["id"])
    assert started.status_code == 201, started.text
    body: dict = started.json()
    return body


async def test_a_pack_bought_with_stripe(
    shop: ShopStudio, fake_stripe: FakeStripe, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    body = await _checkout(shop, member)
    assert body["payment"]["provider"] == "stripe"
    assert body["checkout_url"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    (session_id,) = fake_stripe.sessions
    form = fake_stripe.session_forms[session_id]
    assert form["line_items[0][price_data][unit_amount]"] == "12500"
    assert form["line_items[0][price_data][currency]"] == "zar"
    assert form["payment_intent_data[transfer_data][destination]"] == "acct_loopyoga"
    assert form["payment_intent_data[application_fee_amount]"] == "625"  # 5% of 12500

    fake_stripe.pay(session_id)
    event, signature = fake_stripe.event("checkout.session.completed", session_id)
    answer = await shop.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": signature})
    assert answer.status_code == 200, answer.text
    await run_jobs()
    assert await shop.balance(member) == 10
    payment = await shop.client.get(
        f"{shop.base}/payments/{body['payment']['id']}", headers=member["headers"]
    )
    assert payment.json()["status"] == "succeeded"

    # The same event again (Stripe retries): acknowledged, nothing more.
    again = await shop.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": signature})
    assert again.json()["duplicate"] is True
    await run_jobs()
    assert await shop.balance(member) == 10

    refund = await shop.client.post(
        f"{shop.base}/payments/{body['payment']['id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": 12500, "reason": "Moved away"},
    )
    assert refund.status_code == 201, refund.text
    assert fake_stripe.refunds[0]["amount"] == 12500
    assert (
        fake_stripe.refunds[0]["payment_intent"]
        == fake_stripe.sessions[session_id]["payment_intent"]
    )
    assert refund.json()["payment"]["status"] == "refunded"
    assert await shop.balance(member) == 0
    ledger_matches_balances(owner_db)


async def test_stripe_webhooks_must_carry_stripes_signature(
    shop: ShopStudio, fake_stripe: FakeStripe, owner_db: Owner
) -> None:
    member = await shop.new_member()
    await _checkout(shop, member)
    (session_id,) = fake_stripe.sessions
    fake_stripe.pay(session_id)
    event, _ = fake_stripe.event("checkout.session.completed", session_id)
    for header in (
        sign(event, secret="whsec_someone_else"),
        sign(event, timestamp=int(time.time()) - 3600),  # too old: a replayed capture
        sign(event, timestamp=int(time.time()) + 3600),  # dated ahead: kept for later replay
        "t=1,v1=deadbeef",
    ):
        answer = await shop.client.post(
            WEBHOOK, content=event, headers={"Stripe-Signature": header}
        )
        assert_error(answer, 400, "INVALID_SIGNATURE")
    assert_error(await shop.client.post(WEBHOOK, content=event), 400, "INVALID_SIGNATURE")
    assert owner_db.value("SELECT count(*) FROM webhook_events") == 0


async def test_out_of_order_and_unpaid_events(
    shop: ShopStudio, fake_stripe: FakeStripe, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    body = await _checkout(shop, member)
    (session_id,) = fake_stripe.sessions
    # A bank debit: the checkout completes unpaid (requires_action), then succeeds.
    completed, signed = fake_stripe.event("checkout.session.completed", session_id)
    fake_stripe.pay(session_id)
    succeeded, signed_ok = fake_stripe.event("checkout.session.async_payment_succeeded", session_id)
    # Delivered out of order: the success first, then the older "unpaid" completion.
    for event, header in ((succeeded, signed_ok), (completed, signed)):
        sent = await shop.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": header})
        assert sent.status_code == 200
        await run_jobs()
    payment = await shop.client.get(
        f"{shop.base}/payments/{body['payment']['id']}", headers=member["headers"]
    )
    assert payment.json()["status"] == "succeeded"
    assert await shop.balance(member) == 10
    assert sorted(r[0] for r in owner_db.rows("SELECT outcome FROM webhook_events")) == [
        "applied: succeeded",
        "ignored: succeeded cannot become requires_action",
    ]


async def test_stripe_down_means_a_clear_error_and_no_payment(
    shop: ShopStudio, fake_stripe: FakeStripe, owner_db: Owner
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    fake_stripe.failures_left = 3  # the first try and both of the SDK's retries
    answer = await shop.purchase(member, package["id"])
    assert_error(answer, 502, "PROVIDER_UNAVAILABLE")
    assert owner_db.value("SELECT count(*) FROM payments") == 0


async def test_a_lost_webhook_is_reconciled_with_stripe(
    shop: ShopStudio,
    fake_stripe: FakeStripe,
    owner_db: Owner,
    database,
    stripe_settings: Settings,
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    paid = (await shop.purchase(member, package["id"])).json()
    waiting = (await shop.purchase(member, package["id"])).json()
    paid_session, waiting_session = fake_stripe.sessions
    fake_stripe.pay(paid_session)  # ... and Stripe's webhook never arrives
    owner_db.rows("UPDATE payments SET created_at = now() - interval '1 hour'")

    tenant_id = uuid.UUID(shop.tenant["id"])
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        tenant_settings = {"payment_provider": "stripe"}
        assert await reconciliation.reconcile(session, stripe_settings, tenant_settings) == 1
        await session.commit()
    statuses = dict(owner_db.rows("SELECT id::text, status FROM payments"))
    assert statuses == {paid["payment"]["id"]: "succeeded", waiting["payment"]["id"]: "pending"}
    assert await shop.balance(member) == 10
    assert (
        owner_db.value("SELECT source FROM payment_events WHERE to_status = 'succeeded'") == "job"
    )
    assert waiting_session in fake_stripe.sessions


async def test_the_webhook_may_come_before_or_after_the_member_returns(
    shop: ShopStudio, fake_stripe: FakeStripe, run_jobs: RunJobs
) -> None:
    """What counts is the webhook: the return page never grants or refuses anything."""
    member = await shop.new_member()
    package = await shop.package()
    early = await _checkout(shop, member, package)
    late = await _checkout(shop, member, package)
    early_session, late_session = list(fake_stripe.sessions)
    for session_id in (early_session, late_session):
        fake_stripe.pay(session_id)

    # The webhook first, then the member's browser comes back.
    event, signature = fake_stripe.event("checkout.session.completed", early_session)
    await shop.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": signature})
    await run_jobs()
    back = await shop.client.get(f"/payments/done?payment={early['payment']['id']}")
    assert back.status_code == 200 and "Thank you" in back.text
    assert await shop.balance(member) == 10

    # The browser first (nothing changes), then the webhook.
    back = await shop.client.get(f"/payments/done?payment={late['payment']['id']}")
    assert back.status_code == 200
    status = await shop.client.get(
        f"{shop.base}/payments/{late['payment']['id']}", headers=member["headers"]
    )
    assert status.json()["status"] == "pending" and await shop.balance(member) == 10
    event, signature = fake_stripe.event("checkout.session.completed", late_session)
    await shop.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": signature})
    await run_jobs()
    assert await shop.balance(member) == 20
