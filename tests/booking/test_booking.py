"""Booking with credits, the waitlist, cancellation and refunds."""

from __future__ import annotations

import uuid

from studioloop.booking import qr
from tests.booking.conftest import BookingStudio
from tests.conftest import Owner, assert_error


def ledger_matches_balances(owner_db: Owner) -> None:
    mismatched = owner_db.rows(
        "SELECT a.id FROM credit_accounts a LEFT JOIN credit_transactions t ON t.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(t.amount), 0)"
    )
    assert mismatched == []
    lots_vs_balance = owner_db.rows(
        "SELECT a.id FROM credit_accounts a LEFT JOIN credit_lots l ON l.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(l.remaining), 0)"
    )
    assert lots_vs_balance == []


async def test_book_with_credits(studio: BookingStudio, client, owner_db, settings) -> None:
    member = await studio.new_member(credits=5)
    occurrence = await studio.occurrence(credits_required=2)
    response = await studio.book(member, occurrence["id"], credits_to_use=2)
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "confirmed"
    assert booking["credits_used"] == 2
    assert booking["class_name"] == "Morning Vinyasa"
    code = qr.read(settings, booking["qr_code"])
    assert str(code.booking_id) == booking["id"]
    assert str(code.occurrence_id) == occurrence["id"]
    assert booking["qr_expires_at"] is not None

    assert await studio.balance(member) == 3
    spots = await client.get(f"{studio.base}/schedules/{occurrence['id']}")
    assert spots.json()["available_spots"] == 11
    ledger_matches_balances(owner_db)

    mine = await client.get("/api/v1/bookings", headers=member["headers"])
    assert [b["id"] for b in mine.json()] == [booking["id"]]
    svg = await client.get(f"/api/v1/bookings/{booking['id']}/qr.svg", headers=member["headers"])
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg")


async def test_no_credits_is_402_with_packages_and_changes_nothing(
    studio: BookingStudio, client, owner_db
) -> None:
    await client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Five pack", "credits": 5, "price": 60000, "validity_days": 60},
    )
    member = await studio.new_member()
    occurrence = await studio.occurrence()
    error = assert_error(await studio.book(member, occurrence["id"]), 402, "INSUFFICIENT_CREDITS")
    assert error["details"]["required"] == 1
    assert [p["name"] for p in error["details"]["packages"]] == ["Five pack"]
    assert owner_db.value("SELECT count(*) FROM bookings") == 0
    assert owner_db.value("SELECT booked_count FROM class_schedules") == 0

    paid = await studio.occurrence(hours_ahead=50, price=15000)
    error = assert_error(await studio.book(member, paid["id"]), 402, "PAYMENT_REQUIRED")
    assert error["details"]["price"] == 15000


async def test_free_classes_need_no_credits(studio: BookingStudio) -> None:
    member = await studio.new_member()
    free = await studio.occurrence(credits_required=0)
    response = await studio.book(member, free["id"])
    assert response.status_code == 201
    assert response.json()["credits_used"] == 0


async def test_booking_rules(studio: BookingStudio, client, owner_db) -> None:
    member = await studio.new_member(credits=10)
    first = await studio.occurrence(hours_ahead=30)
    assert (await studio.book(member, first["id"])).status_code == 201
    assert_error(await studio.book(member, first["id"]), 409, "ALREADY_BOOKED")

    overlapping = await studio.occurrence(hours_ahead=30.5, name="Spin")
    assert_error(await studio.book(member, overlapping["id"]), 409, "SCHEDULE_CONFLICT")

    far = await studio.occurrence(hours_ahead=24 * 10, name="Later")  # default window: 7 days
    error = assert_error(await studio.book(member, far["id"]), 409, "BOOKING_NOT_OPEN")
    assert "opens_at" in error["details"]

    cancelled = await studio.occurrence(hours_ahead=40, name="Called off")
    await client.post(
        f"{studio.base}/schedules/{cancelled['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Holiday"},
    )
    assert_error(await studio.book(member, cancelled["id"]), 409, "CLASS_CANCELLED")

    started = await studio.occurrence(hours_ahead=60, name="Past")
    owner_db.rows(
        "UPDATE class_schedules SET start_time = now() - interval '5 minutes', "
        "end_time = now() + interval '55 minutes' WHERE id = %s",
        started["id"],
    )
    assert_error(await studio.book(member, started["id"]), 409, "BOOKING_WINDOW_CLOSED")

    wrong_price = await studio.occurrence(hours_ahead=70, name="Two credits", credits_required=2)
    assert_error(
        await studio.book(member, wrong_price["id"], credits_to_use=1), 422, "VALIDATION_ERROR"
    )
    assert_error(await studio.book(member, str(uuid.uuid4())), 404, "SCHEDULE_NOT_FOUND")
    assert owner_db.value("SELECT count(*) FROM bookings") == 1


async def test_full_class_and_the_waitlist(studio: BookingStudio, client, owner_db) -> None:
    occurrence = await studio.occurrence(capacity=1)
    first, second, third = [await studio.new_member(credits=3) for _ in range(3)]
    assert (await studio.book(first, occurrence["id"])).json()["status"] == "confirmed"
    full = assert_error(await studio.book(second, occurrence["id"]), 409, "CLASS_FULL")
    assert full["details"] == {"capacity": 1}
    waiting = await studio.book(second, occurrence["id"], join_waitlist=True)
    assert waiting.status_code == 201
    assert (waiting.json()["status"], waiting.json()["waitlist_position"]) == ("waitlisted", 1)
    assert waiting.json()["qr_code"] is None
    later = (await studio.book(third, occurrence["id"], join_waitlist=True)).json()
    assert later["waitlist_position"] == 2
    assert await studio.balance(second) == 3  # nothing is taken while waiting

    roster = await client.get(
        f"{studio.base}/schedules/{occurrence['id']}/bookings", headers=studio.instructor["headers"]
    )
    assert [(r["status"], r["waitlist_position"]) for r in roster.json()] == [
        ("confirmed", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]
    assert_error(
        await client.get(
            f"{studio.base}/schedules/{occurrence['id']}/bookings", headers=first["headers"]
        ),
        403,
        "INSUFFICIENT_ROLE",
    )

    # Leaving the waitlist moves the next person up.
    left = await client.delete(
        f"/api/v1/bookings/{waiting.json()['id']}", headers=second["headers"]
    )
    assert left.json()["status"] == "cancelled"
    moved_up = await client.get(f"/api/v1/bookings/{later['id']}", headers=third["headers"])
    assert moved_up.json()["waitlist_position"] == 1
    assert owner_db.value("SELECT waitlist_count FROM class_schedules") == 1


async def test_cancel_refunds_in_window_and_promotes(
    studio: BookingStudio, client, owner_db
) -> None:
    occurrence = await studio.occurrence(capacity=1, hours_ahead=48)
    booked, broke, waiting = [await studio.new_member(credits=c) for c in (2, 0, 2)]
    booking = (await studio.book(booked, occurrence["id"])).json()
    await studio.book(broke, occurrence["id"], join_waitlist=True)
    promoted_booking = (await studio.book(waiting, occurrence["id"], join_waitlist=True)).json()

    cancelled = await client.delete(f"/api/v1/bookings/{booking['id']}", headers=booked["headers"])
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["credits_refunded"], cancelled.json()["late_cancellation"]) == (
        1,
        False,
    )
    assert await studio.balance(booked) == 2

    # The member without credits is skipped (and told); the next one gets the seat.
    promoted = await client.get(
        f"/api/v1/bookings/{promoted_booking['id']}", headers=waiting["headers"]
    )
    assert promoted.json()["status"] == "confirmed"
    assert promoted.json()["qr_code"]
    assert await studio.balance(waiting) == 1
    categories = dict(
        owner_db.rows("SELECT recipient, event FROM notifications WHERE event LIKE 'waitlist%%'")
    )
    assert categories == {broke["email"]: "waitlist_skipped", waiting["email"]: "waitlist_promoted"}
    assert owner_db.rows("SELECT booked_count, waitlist_count FROM class_schedules") == [(1, 1)]
    ledger_matches_balances(owner_db)

    again = await client.delete(f"/api/v1/bookings/{booking['id']}", headers=booked["headers"])
    assert_error(again, 409, "NOT_CANCELLABLE")


async def test_late_cancellation_forfeits_unless_the_studio_cancels(
    studio: BookingStudio, client, owner_db
) -> None:
    soon = await studio.occurrence(hours_ahead=3)  # inside the 24 h cancellation window
    member = await studio.new_member(credits=2)
    booking = (await studio.book(member, soon["id"])).json()
    late = await client.delete(f"/api/v1/bookings/{booking['id']}", headers=member["headers"])
    assert (late.json()["late_cancellation"], late.json()["credits_refunded"]) == (True, 0)
    assert await studio.balance(member) == 1

    other = await studio.occurrence(hours_ahead=5, name="Spin")
    booking = (await studio.book(member, other["id"])).json()
    by_staff = await client.delete(
        f"{studio.base}/bookings/{booking['id']}",
        params={"reason": "Double booked by front desk"},
        headers=studio.owner["headers"],
    )
    assert by_staff.status_code == 200, by_staff.text
    assert by_staff.json()["credits_refunded"] == 1
    assert by_staff.json()["cancellation_reason"] == "Double booked by front desk"
    assert await studio.balance(member) == 1
    # Another member cannot cancel it, nor even see it.
    stranger = await studio.new_member()
    assert_error(
        await client.get(f"/api/v1/bookings/{booking['id']}", headers=stranger["headers"]),
        404,
        "BOOKING_NOT_FOUND",
    )
    ledger_matches_balances(owner_db)


async def test_cancelling_the_class_cancels_and_refunds_every_booking(
    studio: BookingStudio, client, owner_db
) -> None:
    occurrence = await studio.occurrence(capacity=2)
    people = [await studio.new_member(credits=1) for _ in range(3)]
    for person in people:
        await studio.book(person, occurrence["id"], join_waitlist=True)
    await client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Flooded studio"},
    )
    statuses = owner_db.rows("SELECT status, cancellation_reason FROM bookings")
    assert statuses == [("cancelled", "Flooded studio")] * 3
    assert [await studio.balance(p) for p in people] == [1, 1, 1]
    assert owner_db.value("SELECT count(*) FROM notifications WHERE event = 'class_cancelled'") == 3
    assert owner_db.rows("SELECT booked_count, waitlist_count FROM class_schedules") == [(0, 0)]
    ledger_matches_balances(owner_db)


async def test_idempotency_key_books_once(studio: BookingStudio, client, owner_db) -> None:
    member = await studio.new_member(credits=3)
    occurrence = await studio.occurrence()
    headers = {**member["headers"], "Idempotency-Key": "tap-123"}
    body = {"class_schedule_id": occurrence["id"]}
    first = await client.post("/api/v1/bookings", headers=headers, json=body)
    second = await client.post("/api/v1/bookings", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert owner_db.value("SELECT count(*) FROM bookings") == 1
    assert await studio.balance(member) == 2
    other = await client.post(
        "/api/v1/bookings", headers=headers, json={**body, "join_waitlist": True}
    )
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")


async def test_a_failed_request_does_not_burn_its_key(studio: BookingStudio, client) -> None:
    member = await studio.new_member()
    occurrence = await studio.occurrence()
    headers = {**member["headers"], "Idempotency-Key": "retry-after-top-up"}
    body = {"class_schedule_id": occurrence["id"]}
    assert (await client.post("/api/v1/bookings", headers=headers, json=body)).status_code == 402
    await studio.give_credits(member, 1)
    assert (await client.post("/api/v1/bookings", headers=headers, json=body)).status_code == 201


async def test_fairness_caps(studio: BookingStudio, client) -> None:
    await client.patch(
        f"/api/v1/tenants/{studio.slug}",
        headers=studio.owner["headers"],
        json={"settings": {"max_future_bookings": 1}},
    )
    member = await studio.new_member(credits=5)
    a = await studio.occurrence(hours_ahead=30)
    b = await studio.occurrence(hours_ahead=40, name="Spin")
    assert (await studio.book(member, a["id"])).status_code == 201
    error = assert_error(await studio.book(member, b["id"]), 409, "BOOKING_LIMIT_REACHED")
    assert error["details"] == {"max_future_bookings": 1}


async def test_the_ledger_is_append_only(studio: BookingStudio, database) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from studioloop.db.tenancy import enter_tenant_for_transaction

    member = await studio.new_member(credits=2)
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("UPDATE credit_transactions SET amount = 100"))
        await session.rollback()
        await enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("DELETE FROM credit_transactions"))
    assert await studio.balance(member) == 2


async def test_a_closed_account_cannot_book_with_its_old_token(
    studio: BookingStudio, client, owner_db
) -> None:
    """The booking path checks the account in its own first statement (not through the
    usual user dependency): a token issued before the account was banned still gets
    401 and books nothing, with or without an Idempotency-Key, by id or under the studio."""
    member = await studio.new_member(credits=3)
    occurrence = await studio.occurrence()
    body = {"class_schedule_id": occurrence["id"]}
    owner_db.rows("UPDATE users SET status = 'banned' WHERE id = %s", member["user"]["id"])
    keyed = {**member["headers"], "Idempotency-Key": "after-the-ban"}
    for url, headers in [
        ("/api/v1/bookings", member["headers"]),
        (f"{studio.base}/bookings", member["headers"]),
        ("/api/v1/bookings", keyed),
    ]:
        assert_error(await client.post(url, headers=headers, json=body), 401, "INVALID_TOKEN")
    assert_error(await client.post("/api/v1/bookings", json=body), 401, "UNAUTHORIZED")
    assert owner_db.value("SELECT count(*) FROM bookings") == 0
    assert owner_db.value("SELECT count(*) FROM idempotency_keys") == 0
    assert owner_db.value("SELECT sum(balance) FROM credit_accounts") == 3


async def test_booking_a_class_of_another_studio_under_this_one_is_not_found(
    studio: BookingStudio, api, client, owner_db
) -> None:
    from tests.booking.conftest import BookingStudio as Other

    other = await Other(api, "other-yoga").setup()
    theirs = await other.occurrence()
    member = await studio.new_member(credits=3)
    response = await client.post(
        f"{studio.base}/bookings",
        headers=member["headers"],
        json={"class_schedule_id": theirs["id"]},
    )
    assert_error(response, 404, "SCHEDULE_NOT_FOUND")
    assert owner_db.value("SELECT count(*) FROM bookings") == 0
