"""Buying a credit pack through the sandbox: checkout, signed webhook, credits once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from studioloop.config import get_settings
from studioloop.payments.providers import SandboxProvider
from studioloop.payments.tasks import reconcile_payments
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner, assert_error
from tests.payments.conftest import RunJobs, ShopStudio

WEBHOOK = "/api/v1/webhooks/sandbox"


async def test_a_member_buys_a_pack_end_to_end(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    started = await shop.purchase(member, package["id"])
    assert started.status_code == 201, started.text
    body = started.json()
    payment = body["payment"]
    assert payment["status"] == "pending" and payment["amount"] == 12500
    assert payment["currency"] == "ZAR" and payment["provider"] == "sandbox"
    assert body["checkout_url"].startswith("http://testserver/sandbox/checkout/")

    page = await shop.checkout(body["checkout_url"], "pay")
    assert "Payment approved" in page
    assert await shop.balance(member) == 0  # the webhook is processed by a job
    await run_jobs()

    assert await shop.balance(member) == 10
    paid = await client.get(f"{shop.base}/payments/{payment['id']}", headers=member["headers"])
    assert paid.json()["status"] == "succeeded" and paid.json()["succeeded_at"]
    lot = owner_db.rows("SELECT source, original, expires_at FROM credit_lots")[0]
    assert lot[:2] == ("purchase", 10)
    assert abs(lot[2] - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    assert owner_db.rows("SELECT type, amount FROM credit_transactions") == [("purchase", 10)]
    assert owner_db.rows(
        "SELECT from_status, to_status, source FROM payment_events ORDER BY created_at, to_status"
    ) == [(None, "pending", "api"), ("pending", "succeeded", "webhook")]
    receipt = owner_db.rows(
        "SELECT subject, body_text FROM notifications WHERE event = 'payment_receipt'"
    )
    assert receipt[0][0] == "Receipt R-000001: 10 credits: Ten pack"
    assert "ZAR 125.00" in receipt[0][1]
    ledger_matches_balances(owner_db)

    # The checkout cannot be used twice.
    again = await client.get(body["checkout_url"].removeprefix("http://testserver"))
    assert "This checkout is closed" in again.text


async def test_declined_and_abandoned_checkouts_grant_nothing(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    declined = (await shop.purchase(member, package["id"])).json()
    abandoned = (await shop.purchase(member, package["id"])).json()
    assert "Payment declined" in await shop.checkout(declined["checkout_url"], "decline")
    assert "Checkout abandoned" in await shop.checkout(abandoned["checkout_url"], "abandon")
    await run_jobs()
    statuses = {
        p: (await client.get(f"{shop.base}/payments/{p}", headers=member["headers"])).json()[
            "status"
        ]
        for p in (declined["payment"]["id"], abandoned["payment"]["id"])
    }
    assert statuses == {declined["payment"]["id"]: "failed", abandoned["payment"]["id"]: "canceled"}
    assert owner_db.value("SELECT count(*) FROM credit_lots") == 0


def _event(payment: dict, event_type: str = "payment.succeeded", event_id: str | None = None):
    sandbox = SandboxProvider(get_settings())
    body = json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "created": int(time.time()),
            "data": {
                "reference": f"sbx_{uuid.UUID(payment['id']).hex}",
                "metadata": {"tenant_id": payment["tenant_id"], "payment_id": payment["id"]},
            },
        }
    ).encode()
    return sandbox, body


async def test_webhooks_are_verified_stored_once_and_applied_once(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    payment = (await shop.purchase(member, package["id"])).json()["payment"]
    sandbox, body = _event(payment)
    header = SandboxProvider.SIGNATURE_HEADER

    forged = sandbox.sign(body).replace("v1=", "v1=0")
    assert_error(
        await client.post(WEBHOOK, content=body, headers={header: forged}), 400, "INVALID_SIGNATURE"
    )
    assert_error(await client.post(WEBHOOK, content=body), 400, "INVALID_SIGNATURE")
    stale = sandbox.sign(body, int(time.time()) - 3600)
    assert_error(
        await client.post(WEBHOOK, content=body, headers={header: stale}), 400, "INVALID_SIGNATURE"
    )
    tampered = body.replace(b"payment.succeeded", b"payment.failed")
    assert_error(
        await client.post(WEBHOOK, content=tampered, headers={header: sandbox.sign(body)}),
        400,
        "INVALID_SIGNATURE",
    )
    assert owner_db.value("SELECT count(*) FROM webhook_events") == 0

    first = await client.post(WEBHOOK, content=body, headers={header: sandbox.sign(body)})
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    replay = await client.post(WEBHOOK, content=body, headers={header: sandbox.sign(body)})
    assert replay.json() == {"received": True, "duplicate": True}
    await run_jobs()
    # A different event saying the same thing, and a late contradicting one: no effect.
    _, same_again = _event(payment)
    _, late_failure = _event(payment, "payment.failed")
    _, unknown = _event(payment, "payment.disputed")
    for extra in (same_again, late_failure, unknown):
        sent = await client.post(WEBHOOK, content=extra, headers={header: sandbox.sign(extra)})
        assert sent.status_code == 200
    await run_jobs()

    assert await shop.balance(member) == 10  # granted exactly once
    assert owner_db.value("SELECT count(*) FROM webhook_events") == 4
    outcomes = sorted(row[0] for row in owner_db.rows("SELECT outcome FROM webhook_events"))
    assert outcomes == [
        "applied: succeeded",
        "ignored: already succeeded",
        "ignored: succeeded cannot become failed",
        "ignored: unknown type",
    ]
    ledger_matches_balances(owner_db)
    assert_error(
        await client.post("/api/v1/webhooks/paypal", content=body), 404, "UNKNOWN_PROVIDER"
    )


async def test_purchases_stay_inside_the_studio(
    shop: ShopStudio, client, api, owner_db: Owner
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    payment = (await shop.purchase(member, package["id"])).json()["payment"]

    stranger = await api.signup(first_name="Stranger")
    assert_error(await shop.purchase(stranger, package["id"]), 403, "INSUFFICIENT_ROLE")
    other_member = await shop.new_member()
    assert_error(
        await client.get(f"{shop.base}/payments/{payment['id']}", headers=other_member["headers"]),
        404,
        "PAYMENT_NOT_FOUND",
    )
    # The owner sees it; another studio's owner does not, even by id.
    seen = await client.get(f"{shop.base}/payments/{payment['id']}", headers=shop.owner["headers"])
    assert seen.status_code == 200
    rival = await api.signup(first_name="Rival")
    await api.create_tenant(rival, "jozi-hiit")
    assert_error(
        await client.get(
            f"/api/v1/tenants/jozi-hiit/payments/{payment['id']}", headers=rival["headers"]
        ),
        404,
        "PAYMENT_NOT_FOUND",
    )
    # A package of another studio is not on sale here.
    rival_package = await client.post(
        "/api/v1/tenants/jozi-hiit/credit-packages",
        headers=rival["headers"],
        json={"name": "Five", "credits": 5, "price": 5000},
    )
    assert_error(await shop.purchase(member, rival_package.json()["id"]), 404, "PACKAGE_NOT_FOUND")
    # Tampered checkout addresses show nothing.
    page = await client.get(
        f"/sandbox/checkout/{payment['tenant_id']}/{payment['id']}?sig=0000000000000000"
    )
    assert page.status_code == 404
    assert owner_db.value("SELECT count(*) FROM payments") == 1


async def test_an_idempotency_key_starts_one_checkout(shop: ShopStudio, owner_db: Owner) -> None:
    member = await shop.new_member()
    package = await shop.package()
    first = await shop.purchase(member, package["id"], **{"Idempotency-Key": "buy-1"})
    again = await shop.purchase(member, package["id"], **{"Idempotency-Key": "buy-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert owner_db.value("SELECT count(*) FROM payments") == 1


async def test_three_d_secure_pending_then_success(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    body = (await shop.purchase(member, package["id"])).json()
    assert "Confirm with your bank" in await shop.checkout(body["checkout_url"], "pay_3ds")
    await run_jobs()
    url = f"{shop.base}/payments/{body['payment']['id']}"
    assert (await client.get(url, headers=member["headers"])).json()["status"] == "requires_action"
    assert await shop.balance(member) == 0

    assert "Payment approved" in await shop.checkout(body["checkout_url"], "authenticate")
    await run_jobs()
    assert (await client.get(url, headers=member["headers"])).json()["status"] == "succeeded"
    assert await shop.balance(member) == 10
    assert [
        r[0]
        for r in owner_db.rows(
            "SELECT to_status FROM payment_events ORDER BY created_at, to_status DESC"
        )
    ] == ["pending", "requires_action", "succeeded"]


async def test_unfinished_sandbox_checkouts_expire_after_a_day(
    shop: ShopStudio, owner_db: Owner
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    old = (await shop.purchase(member, package["id"])).json()["payment"]
    recent = (await shop.purchase(member, package["id"])).json()["payment"]
    owner_db.rows(
        "UPDATE payments SET created_at = now() - interval '25 hours' WHERE id = %s", old["id"]
    )
    assert await reconcile_payments(timestamp=0) == 1
    assert dict(owner_db.rows("SELECT id::text, status FROM payments")) == {
        old["id"]: "canceled",
        recent["id"]: "pending",
    }


async def test_webhooks_are_not_rate_limited_per_address(database, settings) -> None:
    """Providers send bursts from a few addresses; signatures, not limits, guard them."""
    import httpx

    from studioloop.app import create_app

    strict = settings.model_copy(update={"rate_limit_anonymous": "5/hour"})
    transport = httpx.ASGITransport(app=create_app(strict))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        webhooks = [(await client.post(WEBHOOK, content=b"{}")).status_code for _ in range(10)]
        listings = [(await client.get("/api/v1/tenants")).status_code for _ in range(10)]
    assert set(webhooks) == {400}  # refused for the missing signature, never 429
    assert 429 in listings


async def test_listing_payments(shop: ShopStudio, client, run_jobs: RunJobs) -> None:
    package = await shop.package()
    alice, bongi = await shop.new_member(), await shop.new_member()
    paid = (await shop.purchase(alice, package["id"])).json()
    await shop.checkout(paid["checkout_url"], "pay")
    await run_jobs()
    await shop.purchase(alice, package["id"])
    await shop.purchase(bongi, package["id"])
    listing = f"{shop.base}/payments"

    own = (await client.get(listing, headers=alice["headers"])).json()
    assert len(own["items"]) == 2 and {p["user_id"] for p in own["items"]} == {alice["user"]["id"]}
    # A member cannot look at someone else's by asking for them.
    sneaky = await client.get(
        listing, params={"user_id": bongi["user"]["id"]}, headers=alice["headers"]
    )
    assert {p["user_id"] for p in sneaky.json()["items"]} == {alice["user"]["id"]}

    everyone = (await client.get(listing, headers=shop.owner["headers"])).json()
    assert len(everyone["items"]) == 3
    succeeded = await client.get(
        listing, params={"status": "succeeded"}, headers=shop.owner["headers"]
    )
    assert [p["id"] for p in succeeded.json()["items"]] == [paid["payment"]["id"]]

    pages, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(listing, params=params, headers=shop.owner["headers"])).json()
        pages += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["id"] for p in pages] == [p["id"] for p in everyone["items"]]
    assert_error(
        await client.get(listing, params={"cursor": "nonsense"}, headers=shop.owner["headers"]),
        422,
        "VALIDATION_ERROR",
    )


async def test_concurrent_purchases_and_deliveries(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    package = await shop.package()
    member = await shop.new_member()
    # A double tap: the same request twice at once is one payment.
    tap = {"Idempotency-Key": "double-tap-1"}
    first, second = await asyncio.gather(
        shop.purchase(member, package["id"], **tap), shop.purchase(member, package["id"], **tap)
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["payment"]["id"] == second.json()["payment"]["id"]
    assert owner_db.value("SELECT count(*) FROM payments") == 1

    # Members buying at the same moment, paying at the same moment.
    buyers = [await shop.new_member() for _ in range(4)]
    started = await asyncio.gather(*(shop.purchase(b, package["id"]) for b in buyers))
    assert all(s.status_code == 201 for s in started)
    await asyncio.gather(*(shop.checkout(s.json()["checkout_url"], "pay") for s in started))
    # One provider event delivered twice at once (a provider retrying): stored once.
    sandbox, body = _event(first.json()["payment"])
    header = {SandboxProvider.SIGNATURE_HEADER: sandbox.sign(body)}
    deliveries = await asyncio.gather(
        client.post(WEBHOOK, content=body, headers=header),
        client.post(WEBHOOK, content=body, headers=header),
    )
    assert sorted(d.json()["duplicate"] for d in deliveries) == [False, True]
    await run_jobs()

    assert [await shop.balance(b) for b in buyers] == [10] * 4
    assert await shop.balance(member) == 10
    numbers = [row[0] for row in owner_db.rows("SELECT number FROM receipts ORDER BY number")]
    assert numbers == [1, 2, 3, 4, 5]  # no gaps, no repeats
    ledger_matches_balances(owner_db)
