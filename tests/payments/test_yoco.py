"""Yoco with a studio's own keys (stored encrypted), against a local fake Yoco: checkout,
Standard Webhooks signatures, refunds, reconciliation, and the ways it goes wrong."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from studioloop.config import Settings
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments import reconciliation
from tests.conftest import Api, Owner, assert_error
from tests.fakes.yoco import SECRET_KEY, WEBHOOK_SECRET, FakeYoco
from tests.payments.conftest import RunJobs, ShopStudio

WEBHOOK = "/api/v1/webhooks/yoco"
KEYS = {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET}


@pytest.fixture
def fake_yoco() -> Iterator[FakeYoco]:
    with FakeYoco() as fake:
        yield fake


@pytest.fixture
def yoco_settings(settings: Settings, fake_yoco: FakeYoco) -> Settings:
    return settings.model_copy(update={"yoco_api_base": fake_yoco.url})


@pytest.fixture
async def yoco_client(database, yoco_settings: Settings) -> AsyncIterator[Any]:
    from studioloop.app import create_app

    transport = httpx.ASGITransport(app=create_app(yoco_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def shop(yoco_client: Any, owner_db: Owner) -> ShopStudio:
    studio = await ShopStudio(Api(yoco_client, owner_db), "loop-yoga").setup()
    connected = await _connect(studio, KEYS)
    assert connected.status_code == 200, connected.text
    return studio


async def _connect(studio: ShopStudio, keys: dict[str, Any], who: dict | None = None) -> Any:
    return await studio.client.put(
        f"{studio.base}/payment-providers/yoco",
        headers=(who or studio.owner)["headers"],
        json=keys,
    )


async def _checkout(shop: ShopStudio, member: dict, package: dict | None = None) -> dict:
    package = package or await shop.package()
    started = await shop.purchase(member, package["id"])
    assert started.status_code == 201, started.text
    body: dict = started.json()
    return body


async def test_an_owner_connects_yoco_and_the_keys_are_stored_encrypted(
    shop: ShopStudio, owner_db: Owner
) -> None:
    listed = await shop.client.get(f"{shop.base}/payment-providers", headers=shop.owner["headers"])
    assert listed.status_code == 200, listed.text
    (yoco,) = listed.json()
    assert yoco["provider"] == "yoco" and yoco["active"] is True and yoco["is_test"] is True
    assert yoco["key_hint"] == "sk_test_…6f70"
    assert yoco["webhook_url"] == "http://testserver/api/v1/webhooks/yoco"
    assert SECRET_KEY not in listed.text and WEBHOOK_SECRET not in listed.text
    stored = owner_db.rows(
        "SELECT secret_key_encrypted, webhook_secret_encrypted FROM provider_credentials"
    )[0]
    assert SECRET_KEY not in stored[0] and WEBHOOK_SECRET not in stored[1]
    assert stored[0].startswith("gAAAA")  # a Fernet token

    # Only the owner connects accounts; bad keys are refused and change nothing.
    admin = await shop.new_member()
    owner_db.rows(
        "UPDATE user_tenant_roles SET role = 'admin' WHERE user_id = %s", admin["user"]["id"]
    )
    assert_error(await _connect(shop, KEYS, admin), 403, "INSUFFICIENT_ROLE")
    error = assert_error(
        await _connect(shop, {**KEYS, "secret_key": "pk_test_123456789"}), 422, "VALIDATION_ERROR"
    )
    assert "secret_key" in str(error["details"])
    assert_error(
        await _connect(shop, {**KEYS, "webhook_secret": "whsec_!!"}), 422, "VALIDATION_ERROR"
    )
    assert owner_db.value("SELECT key_hint FROM provider_credentials") == "sk_test_…6f70"

    # Keys in use cannot be removed; after switching provider they can.
    removing = await shop.client.delete(
        f"{shop.base}/payment-providers/yoco", headers=shop.owner["headers"]
    )
    assert_error(removing, 409, "PROVIDER_IN_USE")
    await shop.client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=shop.owner["headers"],
        json={"settings": {"payment_provider": "sandbox"}},
    )
    removed = await shop.client.delete(
        f"{shop.base}/payment-providers/yoco", headers=shop.owner["headers"]
    )
    assert removed.status_code == 204
    assert owner_db.value("SELECT count(*) FROM provider_credentials") == 0


async def test_a_pack_bought_with_yoco(
    shop: ShopStudio, fake_yoco: FakeYoco, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    body = await _checkout(shop, member)
    payment = body["payment"]
    assert payment["provider"] == "yoco"
    (checkout_id,) = fake_yoco.checkouts
    assert body["checkout_url"] == f"https://c.yoco.com/checkout/{checkout_id}"
    checkout = fake_yoco.checkouts[checkout_id]
    assert checkout["amount"] == 12500 and checkout["currency"] == "ZAR"
    assert checkout["metadata"]["payment_id"] == payment["id"]
    assert checkout["successUrl"].startswith("http://testserver/payments/done")
    assert fake_yoco.requests[-1] == ("POST", "/api/checkouts", f"checkout-{payment['id']}")

    fake_yoco.pay(checkout_id)
    event = fake_yoco.event(checkout_id)
    headers = FakeYoco.sign(event)
    first = await shop.client.post(WEBHOOK, content=event, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    again = await shop.client.post(WEBHOOK, content=event, headers=headers)
    assert again.json()["duplicate"] is True
    await run_jobs()
    assert await shop.balance(member) == 10
    assert owner_db.value("SELECT status FROM payments") == "succeeded"

    refund = await shop.client.post(
        f"{shop.base}/payments/{payment['id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": 2500, "reason": "Moved away"},
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["payment"]["status"] == "partially_refunded"
    assert [r["amount"] for r in fake_yoco.refunds] == [2500]
    assert owner_db.value("SELECT provider_reference FROM payment_refunds").startswith("rfd_")


async def test_yoco_webhooks_must_carry_the_studios_signature(
    shop: ShopStudio, fake_yoco: FakeYoco, owner_db: Owner
) -> None:
    member = await shop.new_member()
    await _checkout(shop, member)
    (checkout_id,) = fake_yoco.checkouts
    fake_yoco.pay(checkout_id)
    event = fake_yoco.event(checkout_id)

    other_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    forged = FakeYoco.sign(event, secret=other_secret)
    stale = FakeYoco.sign(event, at=datetime.now(UTC) - timedelta(hours=1))
    for headers in (forged, stale, {"content-type": "application/json"}):
        response = await shop.client.post(WEBHOOK, content=event, headers=headers)
        assert_error(response, 400, "INVALID_SIGNATURE")
    broken = {**FakeYoco.sign(event), "webhook-signature": "v1"}  # malformed
    assert_error(
        await shop.client.post(WEBHOOK, content=event, headers=broken), 400, "INVALID_SIGNATURE"
    )
    assert_error(
        await shop.client.post(WEBHOOK, content=b"not json", headers=FakeYoco.sign(b"not json")),
        400,
        "INVALID_PAYLOAD",
    )
    assert owner_db.value("SELECT count(*) FROM webhook_events") == 0


async def test_another_studios_secret_cannot_sign_for_this_one(
    shop: ShopStudio, fake_yoco: FakeYoco, api: Any, owner_db: Owner
) -> None:
    """An event is checked with the secret of the studio it names: a second studio's own
    (valid) Yoco secret cannot vouch for a payment at the first."""
    other = await ShopStudio(Api(shop.client, owner_db), "other-gym").setup()
    other_secret = "whsec_" + "T1RIRVJHWU1TRUNSRVQxMjM0NTY3OA=="
    assert (await _connect(other, {**KEYS, "webhook_secret": other_secret})).status_code == 200
    member = await shop.new_member()
    await _checkout(shop, member)
    (checkout_id,) = fake_yoco.checkouts
    fake_yoco.pay(checkout_id)
    event = fake_yoco.event(checkout_id)
    signed_by_other = FakeYoco.sign(event, secret=other_secret)
    assert_error(
        await shop.client.post(WEBHOOK, content=event, headers=signed_by_other),
        400,
        "INVALID_SIGNATURE",
    )


async def test_yoco_trouble_is_a_clear_error(
    shop: ShopStudio, fake_yoco: FakeYoco, owner_db: Owner
) -> None:
    member = await shop.new_member()
    package = await shop.package()

    fake_yoco.failures_left = 1  # one 503, then fine: retried with the same key
    started = await shop.purchase(member, package["id"])
    assert started.status_code == 201, started.text
    keys = {key for method, path, key in fake_yoco.requests if method == "POST"}
    assert keys == {f"checkout-{started.json()['payment']['id']}"}

    fake_yoco.failures_left = 2  # down
    assert_error(await shop.purchase(member, package["id"]), 502, "PROVIDER_UNAVAILABLE")
    assert owner_db.value("SELECT count(*) FROM payments") == 1  # nothing left behind

    wrong = {**KEYS, "secret_key": "sk_test_0000000000000000"}
    assert (await _connect(shop, wrong)).status_code == 200
    assert_error(await shop.purchase(member, package["id"]), 409, "PROVIDER_REJECTED")


async def test_choosing_yoco_without_keys_is_refused_at_checkout(
    yoco_client: Any, owner_db: Owner
) -> None:
    studio = await ShopStudio(Api(yoco_client, owner_db), "no-keys").setup()
    await yoco_client.patch(
        "/api/v1/tenants/no-keys",
        headers=studio.owner["headers"],
        json={"settings": {"payment_provider": "yoco"}},
    )
    member = await studio.new_member()
    package = await studio.package()
    assert_error(await studio.purchase(member, package["id"]), 409, "PROVIDER_NOT_CONFIGURED")
    assert owner_db.value("SELECT count(*) FROM payments") == 0


async def test_a_lost_yoco_webhook_is_reconciled(
    shop: ShopStudio, fake_yoco: FakeYoco, yoco_settings: Settings, database: Any, owner_db: Owner
) -> None:
    member = await shop.new_member()
    package = await shop.package()
    paid = (await _checkout(shop, member, package))["payment"]
    still_open = (await _checkout(shop, member, package))["payment"]
    first_checkout = next(
        c for c in fake_yoco.checkouts.values() if c["metadata"]["payment_id"] == paid["id"]
    )
    fake_yoco.pay(first_checkout["id"])
    owner_db.rows("UPDATE payments SET created_at = now() - interval '1 hour'")
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(shop.tenant["id"]))
        changed = await reconciliation.reconcile(
            session, yoco_settings, {"payment_provider": "yoco"}
        )
        await session.commit()
    assert changed == 1
    assert dict(owner_db.rows("SELECT id::text, status FROM payments")) == {
        paid["id"]: "succeeded",
        still_open["id"]: "pending",
    }
    assert await shop.balance(member) == 10
