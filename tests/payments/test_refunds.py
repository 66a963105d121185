"""Refunds: partial ones adding up to the total, never beyond, credits taken back."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner, assert_error
from tests.payments.conftest import RunJobs, ShopStudio


async def _paid(shop: ShopStudio, run_jobs: RunJobs, member: dict, **package: object) -> dict:
    pack = await shop.package(**package)
    checkout = (await shop.purchase(member, pack["id"])).json()
    await shop.checkout(checkout["checkout_url"], "pay")
    await run_jobs()
    return checkout["payment"]


async def _refund(shop: ShopStudio, payment: dict, amount: int, who: dict | None = None):
    return await shop.client.post(
        f"{shop.base}/payments/{payment['id']}/refunds",
        headers=(who or shop.owner)["headers"],
        json={"amount": amount, "reason": "Studio closed for repairs"},
    )


async def test_partial_refunds_add_up_to_the_total_and_no_further(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid(shop, run_jobs, member)  # 10 credits for ZAR 125.00
    assert await shop.balance(member) == 10

    first = await _refund(shop, payment, 5000)  # 40%
    assert first.status_code == 201, first.text
    assert first.json()["payment"]["status"] == "partially_refunded"
    assert first.json()["credits_revoked"] == 4
    assert await shop.balance(member) == 6

    second = await _refund(shop, payment, 3750)  # 30% more: 70% in all
    assert second.json()["payment"]["amount_refunded"] == 8750
    assert second.json()["credits_revoked"] == 3
    error = assert_error(await _refund(shop, payment, 3751), 409, "REFUND_EXCEEDS_PAYMENT")
    assert error["details"]["refundable"] == 3750

    last = await _refund(shop, payment, 3750)
    assert last.json()["payment"]["status"] == "refunded"
    assert last.json()["credits_revoked"] == 3
    assert await shop.balance(member) == 0
    assert_error(await _refund(shop, payment, 1), 409, "PAYMENT_NOT_REFUNDABLE")

    assert owner_db.value("SELECT sum(amount) FROM payment_refunds") == 12500
    assert owner_db.rows("SELECT to_status FROM payment_events ORDER BY created_at, to_status")[
        -3:
    ] == [("partially_refunded",), ("partially_refunded",), ("refunded",)]
    ledger_matches_balances(owner_db)


async def test_the_database_refuses_refunding_beyond_the_payment(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid(shop, run_jobs, member)
    with pytest.raises(psycopg.errors.CheckViolation):
        owner_db.rows("UPDATE payments SET amount_refunded = amount + 1")
    with psycopg.connect(owner_db.conninfo, autocommit=True) as conn:
        conn.execute("SET ROLE studioloop_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM payment_refunds")
    assert owner_db.value("SELECT amount_refunded FROM payments") == 0
    assert payment["amount"] == 12500


async def test_concurrent_refunds_never_exceed_the_payment(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid(shop, run_jobs, member)
    answers = await asyncio.gather(*[_refund(shop, payment, 5000) for _ in range(4)])
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409]
    assert owner_db.value("SELECT amount_refunded FROM payments") == 10000
    ledger_matches_balances(owner_db)


async def test_spent_credits_stay_spent(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid(shop, run_jobs, member, credits=2, price=2000)
    for day in range(2):
        occurrence = await shop.occurrence(hours_ahead=30 + 24 * day)
        assert (await shop.book(member, occurrence["id"])).status_code == 201
    full = await _refund(shop, payment, 2000)
    assert full.status_code == 201
    assert full.json()["credits_revoked"] == 0
    assert full.json()["credits_already_used"] == 2
    assert await shop.balance(member) == 0
    ledger_matches_balances(owner_db)


async def test_only_staff_of_the_studio_refund(
    shop: ShopStudio, api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    payment = await _paid(shop, run_jobs, member)
    assert_error(await _refund(shop, payment, 100, who=member), 403, "INSUFFICIENT_ROLE")
    pending = await shop.purchase(member, (await shop.package(name="Five")).get("id"))
    assert_error(await _refund(shop, pending.json()["payment"], 100), 409, "PAYMENT_NOT_REFUNDABLE")
    rival = await api.signup(first_name="Rival")
    await api.create_tenant(rival, "jozi-hiit")
    answer = await shop.client.post(
        f"/api/v1/tenants/jozi-hiit/payments/{payment['id']}/refunds",
        headers=rival["headers"],
        json={"amount": 100, "reason": "Not mine"},
    )
    assert_error(answer, 404, "PAYMENT_NOT_FOUND")
    assert_error(await _refund(shop, payment, 0), 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM payment_refunds") == 0
