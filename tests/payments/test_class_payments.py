"""Paying for one class by card: the seat is held, the payment confirms it exactly once,
a lapsed hold frees the seat, and money that comes too late goes back automatically."""

from __future__ import annotations

from typing import Any

from studioloop.booking.tasks import expire_seat_holds
from tests.conftest import Owner, assert_error
from tests.payments.conftest import RunJobs, ShopStudio

PRICE = 15000


async def _paid_class(shop: ShopStudio, **fields: Any) -> dict[str, Any]:
    return await shop.occurrence(price=PRICE, **fields)


def _seats(owner_db: Owner, occurrence: dict[str, Any]) -> int:
    return int(
        owner_db.value("SELECT booked_count FROM class_schedules WHERE id = %s", occurrence["id"])
    )


def _status(owner_db: Owner, booking_id: str) -> str:
    return str(owner_db.value("SELECT status FROM bookings WHERE id = %s", booking_id))


async def _hold(shop: ShopStudio, member: dict, occurrence: dict, **extra: Any) -> dict[str, Any]:
    details = assert_error(
        await shop.book(member, occurrence["id"], **extra), 402, "PAYMENT_REQUIRED"
    )["details"]
    return details


def _expire_now(owner_db: Owner, booking_id: str) -> None:
    owner_db.rows(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = %s",
        booking_id,
    )


async def test_a_paid_class_is_held_then_confirmed_by_the_payment(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    pack = await shop.package()
    occurrence = await _paid_class(shop)
    held = await _hold(shop, member, occurrence)
    assert held["price"] == PRICE and held["currency"] == "ZAR"
    assert held["checkout_url"].startswith("http://testserver/sandbox/checkout/")
    assert [p["id"] for p in held["packages"]] == [pack["id"]]  # or buy credits instead
    assert _status(owner_db, held["booking_id"]) == "held"
    assert _seats(owner_db, occurrence) == 1  # the seat is taken while the member pays
    payment = owner_db.rows(
        "SELECT purpose, status, amount, booking_id::text FROM payments WHERE id = %s",
        held["payment_id"],
    )
    assert payment == [("class_booking", "pending", PRICE, held["booking_id"])]

    # Asking again (a slow network, a second tap) sends them to the same checkout.
    again = await _hold(shop, member, occurrence)
    assert [p["id"] for p in again["packages"]] == [pack["id"]]
    assert (again["payment_id"], again["checkout_url"]) == (
        held["payment_id"],
        held["checkout_url"],
    )
    assert owner_db.value("SELECT count(*) FROM payments") == 1
    mine = await client.get("/api/v1/bookings", headers=member["headers"])
    assert [(b["status"], b["hold_expires_at"] is not None) for b in mine.json()] == [
        ("held", True)
    ]
    roster = await client.get(
        f"{shop.base}/schedules/{occurrence['id']}/bookings", headers=shop.owner["headers"]
    )
    assert [entry["status"] for entry in roster.json()] == ["held"]

    page = await shop.checkout(held["checkout_url"], "pay")
    assert "Your booking is confirmed in a moment" in page
    await run_jobs()
    booking = owner_db.rows(
        "SELECT status, qr_code IS NOT NULL, hold_expires_at FROM bookings WHERE id = %s",
        held["booking_id"],
    )
    assert booking == [("confirmed", True, None)]
    assert _seats(owner_db, occurrence) == 1
    assert owner_db.value("SELECT status FROM payments") == "succeeded"
    assert owner_db.value("SELECT count(*) FROM receipts") == 1
    assert owner_db.value("SELECT count(*) FROM credit_lots") == 0  # no credits involved
    email = owner_db.rows("SELECT subject FROM notifications WHERE event = 'class_paid'")
    assert email and email[0][0].startswith("Booked and paid: ")

    # Once booked, asking again is ALREADY_BOOKED, not another checkout.
    assert_error(await shop.book(member, occurrence["id"]), 409, "ALREADY_BOOKED")


async def test_held_seats_count_against_capacity(shop: ShopStudio, owner_db: Owner) -> None:
    first, second = await shop.new_member(), await shop.new_member()
    occurrence = await _paid_class(shop, capacity=1)
    await _hold(shop, first, occurrence)
    assert_error(await shop.book(second, occurrence["id"]), 409, "CLASS_FULL")
    waiting = await shop.book(second, occurrence["id"], join_waitlist=True)
    assert waiting.status_code == 201 and waiting.json()["status"] == "waitlisted"
    assert owner_db.value("SELECT count(*) FROM payments") == 1


async def test_members_with_credits_pay_in_credits(shop: ShopStudio, owner_db: Owner) -> None:
    member = await shop.new_member(credits=3)
    occurrence = await _paid_class(shop)
    booked = await shop.book(member, occurrence["id"])
    assert booked.status_code == 201 and booked.json()["status"] == "confirmed"
    assert owner_db.value("SELECT count(*) FROM payments") == 0


async def test_a_declined_card_frees_the_seat_for_the_waitlist(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    payer, waiting = await shop.new_member(), await shop.new_member(credits=1)
    occurrence = await _paid_class(shop, capacity=1)
    held = await _hold(shop, payer, occurrence)
    queued = (await shop.book(waiting, occurrence["id"], join_waitlist=True)).json()
    assert "Payment declined" in await shop.checkout(held["checkout_url"], "decline")
    await run_jobs()
    assert _status(owner_db, held["booking_id"]) == "expired"
    assert _status(owner_db, queued["id"]) == "confirmed"  # promoted into the freed seat
    assert _seats(owner_db, occurrence) == 1
    assert owner_db.value("SELECT status FROM payments") == "failed"


async def test_an_expired_hold_frees_the_seat_and_a_late_payment_is_refunded(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    slow, quick = await shop.new_member(), await shop.new_member(credits=1)
    occurrence = await _paid_class(shop, capacity=1)
    held = await _hold(shop, slow, occurrence)
    assert await expire_seat_holds(timestamp=0) == 0  # not yet due
    _expire_now(owner_db, held["booking_id"])
    assert await expire_seat_holds(timestamp=0) == 1
    assert await expire_seat_holds(timestamp=0) == 0  # safe to run twice
    assert _status(owner_db, held["booking_id"]) == "expired"
    assert _seats(owner_db, occurrence) == 0
    assert (await shop.book(quick, occurrence["id"])).status_code == 201  # the seat is back

    # The slow member pays on the still-open checkout page: no seat left, money back.
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()  # the webhook, then the refund it deferred
    assert _status(owner_db, held["booking_id"]) == "expired"
    assert owner_db.rows("SELECT status, amount_refunded FROM payments") == [("refunded", PRICE)]
    assert owner_db.value("SELECT reason FROM payment_refunds").startswith(
        "Refunded automatically: the class filled up"
    )
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE event = 'class_payment_refunded'")
        == 1
    )
    assert _seats(owner_db, occurrence) == 1  # only the quick member's
    assert owner_db.value("SELECT count(*) FROM receipts") == 0


async def test_a_late_payment_still_gets_a_free_seat(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    occurrence = await _paid_class(shop, capacity=5)
    held = await _hold(shop, member, occurrence)
    _expire_now(owner_db, held["booking_id"])
    await expire_seat_holds(timestamp=0)
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    assert _status(owner_db, held["booking_id"]) == "confirmed"
    assert _seats(owner_db, occurrence) == 1
    assert owner_db.value("SELECT status FROM payments") == "succeeded"


async def test_a_replayed_success_confirms_once(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    from tests.payments.test_credit_purchase import WEBHOOK, _event

    member = await shop.new_member()
    occurrence = await _paid_class(shop)
    held = await _hold(shop, member, occurrence)
    payment = {"id": held["payment_id"], "tenant_id": shop.tenant["id"]}
    sandbox, body = _event(payment)
    headers = {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
    assert (await client.post(WEBHOOK, content=body, headers=headers)).json()["duplicate"] is False
    assert (await client.post(WEBHOOK, content=body, headers=headers)).json()["duplicate"] is True
    _, other = _event(payment)  # the same news under another event id
    await client.post(WEBHOOK, content=other, headers={"Sandbox-Signature": sandbox.sign(other)})
    await run_jobs()
    assert _status(owner_db, held["booking_id"]) == "confirmed"
    assert _seats(owner_db, occurrence) == 1
    assert owner_db.value("SELECT count(*) FROM receipts") == 1
    assert owner_db.value("SELECT count(*) FROM payment_refunds") == 0


async def test_cancelling_a_paid_booking_in_time_refunds_it(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    occurrence = await _paid_class(shop, hours_ahead=48)
    held = await _hold(shop, member, occurrence)
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    cancelled = await client.delete(
        f"/api/v1/bookings/{held['booking_id']}", headers=member["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    assert owner_db.value("SELECT count(*) FROM payment_refunds") == 0  # after the commit...
    await run_jobs()  # ...by a job
    assert owner_db.rows("SELECT status, amount_refunded FROM payments") == [("refunded", PRICE)]
    assert _seats(owner_db, occurrence) == 0
    await run_jobs()  # a second run (a retried job) refunds nothing more
    assert owner_db.value("SELECT count(*) FROM payment_refunds") == 1


async def test_a_late_cancellation_keeps_the_money(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    occurrence = await _paid_class(shop, hours_ahead=3)  # inside the 12-hour window
    held = await _hold(shop, member, occurrence)
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    cancelled = await client.delete(
        f"/api/v1/bookings/{held['booking_id']}", headers=member["headers"]
    )
    assert cancelled.json()["late_cancellation"] is True
    await run_jobs()
    assert owner_db.value("SELECT status FROM payments") == "succeeded"


async def test_a_cancelled_hold_paid_afterwards_is_refunded(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    occurrence = await _paid_class(shop)
    held = await _hold(shop, member, occurrence)
    cancelled = await client.delete(
        f"/api/v1/bookings/{held['booking_id']}", headers=member["headers"]
    )
    assert cancelled.json()["status"] == "cancelled"
    assert _seats(owner_db, occurrence) == 0
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    assert _status(owner_db, held["booking_id"]) == "cancelled"
    assert owner_db.value("SELECT status FROM payments") == "refunded"


async def test_the_studio_cancelling_the_class_refunds_card_payments(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    occurrence = await _paid_class(shop)
    held = await _hold(shop, member, occurrence)
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    response = await client.post(
        f"{shop.base}/schedules/{occurrence['id']}/cancel",
        headers=shop.owner["headers"],
        json={"reason": "Instructor ill"},
    )
    assert response.status_code == 200, response.text
    await run_jobs()
    assert _status(owner_db, held["booking_id"]) == "cancelled"
    assert owner_db.rows("SELECT status, amount_refunded FROM payments") == [("refunded", PRICE)]


async def test_a_full_refund_by_the_studio_cancels_the_booking(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member, waiting = await shop.new_member(), await shop.new_member(credits=1)
    occurrence = await _paid_class(shop, capacity=1)
    held = await _hold(shop, member, occurrence)
    await shop.checkout(held["checkout_url"], "pay")
    await run_jobs()
    queued = (await shop.book(waiting, occurrence["id"], join_waitlist=True)).json()

    partial = await client.post(
        f"{shop.base}/payments/{held['payment_id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": 5000, "reason": "Goodwill"},
    )
    assert partial.status_code == 201, partial.text
    assert _status(owner_db, held["booking_id"]) == "confirmed"  # a part leaves the place
    rest = await client.post(
        f"{shop.base}/payments/{held['payment_id']}/refunds",
        headers=shop.owner["headers"],
        json={"amount": PRICE - 5000, "reason": "Cannot come after all"},
    )
    assert rest.json()["payment"]["status"] == "refunded"
    assert _status(owner_db, held["booking_id"]) == "cancelled"
    assert _status(owner_db, queued["id"]) == "confirmed"
    assert _seats(owner_db, occurrence) == 1


async def test_card_only_classes_hold_for_everyone(shop: ShopStudio, owner_db: Owner) -> None:
    """A class sold only by card (no credits accepted) is held even for members with credits."""
    member = await shop.new_member(credits=5)
    occurrence = await _paid_class(shop, credits_required=0)
    held = await _hold(shop, member, occurrence)
    assert held["credits_required"] == 0 and held["packages"] == []
    assert owner_db.value("SELECT balance FROM credit_accounts") == 5
