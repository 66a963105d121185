"""Stripe Connect onboarding for a studio's own account, and memberships renewed on the
card Stripe saved, through the real SDK against the local fake Stripe."""

from __future__ import annotations

from typing import Any

import pytest

from studioloop.billing import tasks as billing_tasks
from studioloop.config import Settings
from studioloop.payments import tasks as payment_tasks
from tests.billing.conftest import MemberStudio
from tests.conftest import Api, Owner, assert_error
from tests.fakes.stripe import FakeStripe
from tests.payments.conftest import RunJobs

WEBHOOK = "/api/v1/webhooks/stripe"


@pytest.fixture
async def gym(
    stripe_client: Any, owner_db: Owner, stripe_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> MemberStudio:
    # The jobs read the process's settings: give them the ones with the (fake) Stripe.
    monkeypatch.setattr(payment_tasks, "get_settings", lambda: stripe_settings)
    monkeypatch.setattr(billing_tasks, "get_settings", lambda: stripe_settings)
    studio = await MemberStudio(Api(stripe_client, owner_db), "loop-yoga").setup()
    chosen = await stripe_client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=studio.owner["headers"],
        json={"settings": {"payment_provider": "stripe"}},
    )
    assert chosen.status_code == 200, chosen.text
    return studio


async def _connect(gym: MemberStudio, who: dict | None = None) -> Any:
    return await gym.client.post(
        f"{gym.base}/payments/stripe/connect", headers=(who or gym.owner)["headers"]
    )


async def _status(gym: MemberStudio) -> dict[str, Any]:
    found = await gym.client.get(
        f"{gym.base}/payments/stripe/connect", headers=gym.owner["headers"]
    )
    assert found.status_code == 200, found.text
    result: dict[str, Any] = found.json()
    return result


async def test_a_studio_connects_its_stripe_account(
    gym: MemberStudio, fake_stripe: FakeStripe, owner_db: Owner
) -> None:
    assert (await _status(gym))["status"] == "none"
    member = await gym.new_member()
    assert_error(await _connect(gym, member), 403, "INSUFFICIENT_ROLE")

    started = await _connect(gym)
    assert started.status_code == 200, started.text
    body = started.json()
    (account_id,) = fake_stripe.accounts
    assert body["status"] == "pending" and body["account_id"] == account_id
    assert body["onboarding_url"].startswith(f"https://connect.stripe.test/setup/e/{account_id}/")
    assert fake_stripe.accounts[account_id]["type"] == "express"
    assert fake_stripe.account_links[-1]["return_url"].endswith(
        "/payments/connected?studio=loop-yoga"
    )
    page = await gym.client.get("/payments/connected?studio=loop-yoga")
    assert page.status_code == 200 and "Stripe still needs some details" in page.text

    # Until Stripe accepts it, payments stay on the platform's account.
    package = await gym.package()
    await gym.purchase(member, package["id"])
    (first,) = fake_stripe.session_forms.values()
    assert "payment_intent_data[transfer_data][destination]" not in first
    again = await _connect(gym)  # a fresh link, the same account
    assert again.json()["account_id"] == account_id and len(fake_stripe.accounts) == 1

    fake_stripe.finish_onboarding(account_id)
    back = await gym.client.get("/payments/connected?studio=loop-yoga")  # Stripe's return
    assert "Your Stripe account is connected" in back.text
    assert (await gym.client.get("/payments/connected?studio=nowhere")).status_code == 200
    state = await _status(gym)
    assert (state["status"], state["charges_enabled"]) == ("connected", True)
    settings = owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'")
    assert settings["stripe_account_id"] == account_id
    assert "stripe_account_pending" not in settings
    await gym.purchase(member, package["id"])
    latest = list(fake_stripe.session_forms.values())[-1]
    assert latest["payment_intent_data[transfer_data][destination]"] == account_id
    assert_error(await _connect(gym), 409, "ALREADY_CONNECTED")


async def _stripe_member(
    gym: MemberStudio, fake_stripe: FakeStripe, run_jobs: RunJobs, card: str = "pm_card_visa"
) -> tuple[dict, dict, str]:
    plan = await gym.plan()
    member = await gym.new_member()
    started = await gym.subscribe(member, plan["id"])
    assert started.status_code == 201, started.text
    session_id = list(fake_stripe.sessions)[-1]
    form = fake_stripe.session_forms[session_id]
    assert form["payment_intent_data[setup_future_usage]"] == "off_session"
    assert form["customer_creation"] == "always"
    assert form["customer_email"] == member["email"]
    fake_stripe.pay(session_id, card=card)
    event, signature = fake_stripe.event("checkout.session.completed", session_id)
    answer = await gym.client.post(WEBHOOK, content=event, headers={"Stripe-Signature": signature})
    assert answer.status_code == 200, answer.text
    await run_jobs()
    subscription = started.json()["subscription"]
    return member, subscription, session_id


def _due_now(owner_db: Owner, subscription_id: str) -> None:
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 minute', "
        "current_period_start = now() - interval '1 month' WHERE id = %s",
        subscription_id,
    )


async def test_memberships_renew_on_the_card_stripe_saved(
    gym: MemberStudio, fake_stripe: FakeStripe, owner_db: Owner, run_jobs: RunJobs
) -> None:
    owner_db.rows(
        'UPDATE tenants SET settings = settings || \'{"stripe_account_id": "acct_loopyoga"}\' '
        "WHERE slug = 'loop-yoga'"
    )
    member, subscription, session_id = await _stripe_member(gym, fake_stripe, run_jobs)
    saved = owner_db.value(
        "SELECT payment_method_ref FROM subscriptions WHERE id = %s", subscription["id"]
    )
    intent = fake_stripe.intents[fake_stripe.sessions[session_id]["payment_intent"]]
    assert saved == f"{intent['customer']}/{intent['payment_method']}"
    found = await gym.subscription(member, subscription["id"])
    assert found["status"] == "active" and found["renews_automatically"] is True

    _due_now(owner_db, subscription["id"])
    assert await billing_tasks.renew_memberships(timestamp=0) == 1
    renewal = [i for i in fake_stripe.intents.values() if i.get("off_session")]
    assert len(renewal) == 1
    assert renewal[0]["amount"] == 45000 and renewal[0]["customer"] == intent["customer"]
    assert renewal[0]["transfer_data"] == "acct_loopyoga"
    assert renewal[0]["application_fee_amount"] == "2250"  # 5%
    assert (
        owner_db.value("SELECT status FROM subscriptions WHERE id = %s", subscription["id"])
        == "active"
    )
    payment_id, reference = owner_db.rows(
        "SELECT id::text, provider_reference FROM payments WHERE subscription_id = %s "
        "ORDER BY created_at DESC LIMIT 1",
        subscription["id"],
    )[0]
    assert reference == renewal[0]["id"]

    refund = await gym.client.post(
        f"{gym.base}/payments/{payment_id}/refunds",
        headers=gym.owner["headers"],
        json={"amount": 1000, "reason": "Goodwill"},
    )
    assert refund.status_code == 201, refund.text
    assert fake_stripe.refunds[-1]["payment_intent"] == reference


async def test_a_declined_saved_card_goes_to_dunning(
    gym: MemberStudio, fake_stripe: FakeStripe, owner_db: Owner, run_jobs: RunJobs
) -> None:
    _, subscription, _ = await _stripe_member(
        gym, fake_stripe, run_jobs, card="pm_card_chargeDeclined"
    )
    _due_now(owner_db, subscription["id"])
    assert await billing_tasks.renew_memberships(timestamp=0) == 1
    assert owner_db.rows(
        "SELECT status, failed_attempts FROM subscriptions WHERE id = %s", subscription["id"]
    ) == [("past_due", 1)]
    assert (
        owner_db.value(
            "SELECT count(*) FROM payments WHERE subscription_id = %s AND status = 'failed'",
            subscription["id"],
        )
        == 1
    )
