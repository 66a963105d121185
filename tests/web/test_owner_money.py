"""The owner's money pages over HTTP: prices edited, taken off sale and reordered;
payments found, refunded and their receipts; payouts and the payment connections."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.billing.conftest import MemberStudio
from tests.conftest import Api, Owner
from tests.payments.conftest import RunJobs, run_jobs
from tests.web.test_pages import CSRF, _login

__all__ = ["run_jobs"]  # the fixture, for these tests

PRICING = "/s/loop-yoga/admin/pricing"
PAYMENTS = "/s/loop-yoga/admin/payments"
UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def gym(api: Api) -> MemberStudio:
    return await MemberStudio(api, "loop-yoga").setup()


async def _as(web: httpx.AsyncClient, person: dict[str, Any], page: str) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    return CSRF.search((await web.get(page)).text).group(1)


def _ids(text: str, kind: str) -> list[str]:
    return re.findall(rf'<li class="price-item[^"]*" id="{kind}-([0-9a-f-]+)"', text)


async def test_prices_are_edited_taken_off_sale_and_reordered(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner
) -> None:
    five = await gym.package(name="Five", credits=5, price=5000)
    ten = await gym.package(name="Ten", credits=10, price=9000)
    monthly = await gym.plan(name="Monthly", price=45000)
    await gym.plan(name="Yearly", price=450000, interval="year")
    token = await _as(web, gym.owner, PRICING)
    page = await web.get(PRICING)
    assert _ids(page.text, "packs") == [five["id"], ten["id"]]

    # Edit: every bad value is refused beside its field and changes nothing.
    edit = f"{PRICING}/packs/{five['id']}"
    base = {"csrf_token": token, "name": "Five", "credits": "5", "price": "50"}
    for bad, field in (
        ({"price": "lots"}, "price"),
        ({"price": ""}, "price"),
        ({"name": ""}, "name"),
        ({"credits": "0"}, "credits"),
        ({"name": "Ten"}, "name"),  # another pack's name
    ):
        refused = await web.post(edit, data={**base, **bad})
        assert refused.status_code == 400, (bad, refused.status_code)
        assert f'id="packs-{field}-{five["id"]}-error"' in refused.text or (
            field == "credits" and f'id="packs-credits-{five["id"]}-error"' in refused.text
        ), bad
    assert owner_db.value("SELECT price FROM credit_packages WHERE id = %s", five["id"]) == 5000
    saved = await web.post(edit, data={**base, "name": "Five classes", "price": "R55.50"})
    assert saved.status_code == 303
    row = owner_db.rows("SELECT name, price FROM credit_packages WHERE id = %s", five["id"])[0]
    assert tuple(row) == ("Five classes", 5550)

    # Off sale: members no longer see it; the owner still does, marked so.
    off = await web.post(f"{edit}/sale", data={"csrf_token": token, "on_sale": "0"})
    assert off.status_code == 303
    page = await web.get(off.headers["location"])
    assert "Taken off sale" in page.text and "off sale" in page.text
    bad_sale = await web.post(f"{edit}/sale", data={"csrf_token": token, "on_sale": ""})
    assert bad_sale.status_code == 400 and "Choose on sale or off sale" in bad_sale.text
    on_sale = await gym.client.get(f"{gym.base}/credit-packages", headers=gym.member["headers"])
    assert [p["id"] for p in on_sale.json()] == [ten["id"]]

    # Reorder: Ten first, then the retired Five.
    moved = await web.post(
        f"{PRICING}/packs/{ten['id']}/move", data={"csrf_token": token, "direction": "up"}
    )
    assert moved.status_code == 303
    assert _ids((await web.get(PRICING)).text, "packs") == [ten["id"], five["id"]]
    bad_move = await web.post(
        f"{PRICING}/packs/{ten['id']}/move", data={"csrf_token": token, "direction": "sideways"}
    )
    assert bad_move.status_code == 400 and "Move it up or down" in bad_move.text

    # Plans: edit, reorder and retire (the member's page no longer offers it).
    plan_edit = f"{PRICING}/plans/{monthly['id']}"
    refused = await web.post(plan_edit, data={"csrf_token": token, "name": "Monthly", "price": "0"})
    assert refused.status_code == 400
    saved = await web.post(
        plan_edit,
        data={"csrf_token": token, "name": "Monthly unlimited", "price": "500", "unlimited": "1"},
    )
    assert saved.status_code == 303
    assert owner_db.rows(
        "SELECT price, unlimited FROM membership_plans WHERE id = %s", monthly["id"]
    )[0] == (50000, True)
    down = await web.post(f"{plan_edit}/move", data={"csrf_token": token, "direction": "down"})
    assert down.status_code == 303
    assert _ids((await web.get(PRICING)).text, "plans")[-1] == monthly["id"]
    off = await web.post(f"{plan_edit}/sale", data={"csrf_token": token, "on_sale": "0"})
    assert off.status_code == 303
    assert "Monthly unlimited" not in (await web.get("/s/loop-yoga/memberships")).text

    # Unknown, malformed, another studio's: a message, nothing changed.
    rival = await gym.api.signup(first_name="Rival")
    await gym.api.create_tenant(rival, "jozi-hiit")
    theirs = await gym.client.post(
        "/api/v1/tenants/jozi-hiit/credit-packages",
        headers=rival["headers"],
        json={"name": "Theirs", "credits": 1, "price": 100},
    )
    assert theirs.status_code == 201, theirs.text
    for target in (
        f"{PRICING}/packs/{UNKNOWN}/sale",
        f"{PRICING}/packs/not-an-id/sale",
        f"{PRICING}/packs/{theirs.json()['id']}/sale",
        f"{PRICING}/plans/{UNKNOWN}/sale",
        f"{PRICING}/gadgets/{five['id']}/sale",
    ):
        answer = await web.post(target, data={"csrf_token": token, "on_sale": "1"})
        assert answer.status_code == 404, target
        assert "not one of this studio" in answer.text
    assert owner_db.value("SELECT is_active FROM credit_packages WHERE name = 'Theirs'") is True
    missing_csrf = await web.post(f"{edit}/sale", data={"on_sale": "1"})
    assert missing_csrf.status_code == 403

    # A member may not.
    member_web = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with member_web:
        member_token = await _as(member_web, gym.member, "/s/loop-yoga")
        refused = await member_web.post(
            f"{edit}/sale", data={"csrf_token": member_token, "on_sale": "1"}
        )
        assert refused.status_code == 403
    assert (
        owner_db.value("SELECT is_active FROM credit_packages WHERE id = %s", five["id"]) is False
    )


async def _bought(gym: MemberStudio, jobs: RunJobs, member: dict[str, Any]) -> dict[str, Any]:
    pack = await gym.package(name="Ten pack", credits=10, price=20000)
    checkout = (await gym.purchase(member, pack["id"])).json()
    await gym.checkout(checkout["checkout_url"], "pay")
    await jobs()
    payment: dict[str, Any] = checkout["payment"]
    return payment


async def test_payments_are_found_refunded_and_have_receipts(
    web: httpx.AsyncClient, gym: MemberStudio, run_jobs: RunJobs, owner_db: Owner
) -> None:
    buyer = await gym.new_member()
    payment = await _bought(gym, run_jobs, buyer)
    token = await _as(web, gym.owner, PAYMENTS)
    page = await web.get(PAYMENTS)
    assert page.status_code == 200 and f'id="payment-{payment["id"]}"' in page.text
    assert "Receipt (PDF)" in page.text

    # Filters: each narrows the list; a value that cannot be used says so.
    shown = await web.get(PAYMENTS, params={"status": "succeeded", "purpose": "credit_pack"})
    assert payment["id"] in shown.text
    assert payment["id"] not in (await web.get(PAYMENTS, params={"status": "failed"})).text
    assert payment["id"] not in (await web.get(PAYMENTS, params={"purpose": "subscription"})).text
    assert payment["id"] in (await web.get(PAYMENTS, params={"member": buyer["email"]})).text
    assert (
        payment["id"] not in (await web.get(PAYMENTS, params={"member": gym.member["email"]})).text
    )
    assert (
        payment["id"]
        not in (await web.get(PAYMENTS, params={"from": "2020-01-01", "to": "2020-01-31"})).text
    )
    for params, words in (
        ({"status": "lost"}, "Choose a status"),
        ({"purpose": "gift"}, "Choose what it paid for"),
        ({"from": "yesterday"}, "Enter a date"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "The end comes before the start"),
        ({"member": "nobody-at-all@example.com"}, "Nobody here matches"),
        ({"cursor": "garbage"}, "not there any more"),
    ):
        answer = await web.get(PAYMENTS, params=params)
        assert answer.status_code == 400 and words in answer.text, params

    # Receipts: the PDF, or a message.
    pdf = await web.get(f"{PAYMENTS}/{payment['id']}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    for bad in ("not-an-id", UNKNOWN):
        missing = await web.get(f"{PAYMENTS}/{bad}/receipt.pdf")
        assert missing.status_code == 404 and "not one of this studio" in missing.text

    # Refunds: bad amounts and reasons change nothing; a part, then more than is left.
    refund = f"{PAYMENTS}/{payment['id']}/refund"
    for data, words in (
        ({"amount": "", "reason": "Studio closed"}, "Enter the amount to refund"),
        ({"amount": "abc", "reason": "Studio closed"}, "Enter an amount such as"),
        ({"amount": "0", "reason": "Studio closed"}, "Enter an amount such as"),
        ({"amount": "50", "reason": ""}, "Say why"),
    ):
        answer = await web.post(refund, data={"csrf_token": token, **data})
        assert answer.status_code == 400 and words in answer.text, data
    assert owner_db.value("SELECT amount_refunded FROM payments WHERE id = %s", payment["id"]) == 0
    part = await web.post(
        f"{refund}?status=succeeded",
        data={"csrf_token": token, "amount": "50.00", "reason": "Studio closed a week"},
    )
    assert part.status_code == 303 and "status=succeeded" in part.headers["location"]
    after = await web.get(part.headers["location"].replace("status=succeeded", ""))
    assert "Refunded ZAR" in after.text or "Refunded R" in after.text
    row = owner_db.rows("SELECT status, amount_refunded FROM payments WHERE id = %s", payment["id"])
    assert tuple(row[0]) == ("partially_refunded", 5000)
    assert await gym.balance(buyer) == 8  # a quarter of the ten credits back
    too_much = await web.post(
        refund, data={"csrf_token": token, "amount": "150.01", "reason": "All of it and more"}
    )
    assert too_much.status_code == 409 and "more than is left to refund" in too_much.text
    for bad in ("not-an-id", UNKNOWN):
        answer = await web.post(
            f"{PAYMENTS}/{bad}/refund",
            data={"csrf_token": token, "amount": "1", "reason": "Studio closed"},
        )
        assert answer.status_code == 404 and "not one of this studio" in answer.text
    rest = await web.post(
        refund, data={"csrf_token": token, "amount": "150", "reason": "The rest back"}
    )
    assert rest.status_code == 303
    assert owner_db.value("SELECT status FROM payments WHERE id = %s", payment["id"]) == "refunded"
    again = await web.post(refund, data={"csrf_token": token, "amount": "1", "reason": "Once more"})
    assert again.status_code == 409 and "Only a payment that succeeded" in again.text

    # Staff below admin and members may not see or refund.
    other = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with other:
        await _as(other, gym.instructor, "/s/loop-yoga")
        assert (await other.get(PAYMENTS)).status_code == 403
        assert (await other.get(f"{PAYMENTS}/{payment['id']}/receipt.pdf")).status_code == 403


async def test_payouts_and_connections(
    web: httpx.AsyncClient, gym: MemberStudio, run_jobs: RunJobs
) -> None:
    await _bought(gym, run_jobs, await gym.new_member())
    token = await _as(web, gym.owner, "/s/loop-yoga/admin/payouts")
    page = await web.get("/s/loop-yoga/admin/payouts")
    assert page.status_code == 200
    assert "Payments go through <strong>sandbox</strong>" in page.text
    assert "Connect Stripe" in page.text and "not connected" in page.text
    assert re.search(r'id="balance">R?(ZAR )?[0-9 ,.]+', page.text)
    assert "Marketplace statement" in page.text and "Ten pack" in page.text
    # No Stripe account yet: paying out is refused with the reason.
    sent = await web.post("/s/loop-yoga/admin/payouts/send", data={"csrf_token": token})
    assert sent.status_code == 409 and "Connect a Stripe account" in sent.text
    checked = await web.post("/s/loop-yoga/admin/payouts/stripe/check", data={"csrf_token": token})
    assert checked.status_code == 200
    assert (await web.post("/s/loop-yoga/admin/payouts/send", data={})).status_code == 403

    other = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with other:
        await _as(other, gym.member, "/s/loop-yoga")
        assert (await other.get("/s/loop-yoga/admin/payouts")).status_code == 403
