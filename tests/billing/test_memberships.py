"""Membership plans and subscriptions: first payment, credits per period, unlimited
classes, renewals with a saved card or a payment link, dunning, pause, plan changes and
cancellation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from studioloop.billing.service import add_interval
from studioloop.billing.tasks import renew_memberships
from tests.billing.conftest import MemberStudio, RunJobs
from tests.conftest import Owner, assert_error


def _sub(owner_db: Owner, subscription_id: str) -> dict[str, Any]:
    row = owner_db.rows(
        "SELECT status, failed_attempts, current_period_start, current_period_end, "
        "payment_method_ref, plan_id::text, next_plan_id::text, next_attempt_at "
        "FROM subscriptions WHERE id = %s",
        subscription_id,
    )[0]
    keys = ("status", "failed", "start", "end", "card", "plan", "next_plan", "next_attempt")
    return dict(zip(keys, row, strict=True))


def _due_now(owner_db: Owner, subscription_id: str) -> None:
    """The period ends (and any retry is due) a minute ago."""
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 minute', "
        "current_period_start = now() - interval '1 month', "
        "next_attempt_at = CASE WHEN next_attempt_at IS NULL THEN NULL "
        "ELSE now() - interval '1 minute' END WHERE id = %s",
        subscription_id,
    )


def _emails(owner_db: Owner, category: str) -> int:
    return int(owner_db.value("SELECT count(*) FROM notifications WHERE event = %s", category))


def test_months_add_like_a_calendar() -> None:
    jan31 = datetime(2027, 1, 31, 9, tzinfo=UTC)
    assert add_interval(jan31, "month") == datetime(2027, 2, 28, 9, tzinfo=UTC)
    assert add_interval(datetime(2028, 1, 31, tzinfo=UTC), "month").day == 29  # leap year
    assert add_interval(datetime(2027, 12, 15, tzinfo=UTC), "month") == datetime(
        2028, 1, 15, tzinfo=UTC
    )
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), "year") == datetime(
        2029, 2, 28, tzinfo=UTC
    )


async def test_plans_are_managed_by_staff(gym: MemberStudio, client) -> None:
    plan = await gym.plan()
    assert plan["interval"] == "month" and plan["credits_per_period"] == 8
    member = await gym.new_member()
    refused = await client.post(
        f"{gym.base}/membership-plans",
        headers=member["headers"],
        json={"name": "Sneaky", "price": 100},
    )
    assert_error(refused, 403, "INSUFFICIENT_ROLE")
    duplicate = await client.post(
        f"{gym.base}/membership-plans",
        headers=gym.owner["headers"],
        json={"name": "Eight a month", "price": 100},
    )
    assert_error(duplicate, 409, "NAME_TAKEN")
    invalid = await client.post(
        f"{gym.base}/membership-plans",
        headers=gym.owner["headers"],
        json={"name": "Free", "price": 0, "interval": "week"},
    )
    details = assert_error(invalid, 422, "VALIDATION_ERROR")["details"]
    assert {e["field"] for e in details["fields"]} == {"price", "interval"}
    retired = await client.patch(
        f"{gym.base}/membership-plans/{plan['id']}",
        headers=gym.owner["headers"],
        json={"is_active": False},
    )
    assert retired.json()["is_active"] is False
    on_sale = await client.get(f"{gym.base}/membership-plans")  # public, like credit packs
    assert on_sale.status_code == 200 and on_sale.json() == []
    staff_view = await client.get(
        f"{gym.base}/membership-plans?include_inactive=true", headers=gym.owner["headers"]
    )
    assert [p["name"] for p in staff_view.json()] == ["Eight a month"]
    anonymous = await client.get(f"{gym.base}/membership-plans?include_inactive=true")
    assert anonymous.json() == []
    assert_error(await gym.subscribe(member, plan["id"]), 404, "PLAN_NOT_FOUND")


async def test_a_member_joins_and_gets_the_periods_credits(
    gym: MemberStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member = await gym.new_member()
    started = await gym.subscribe(member, plan["id"])
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["subscription"]["status"] == "incomplete"
    assert body["payment"]["purpose"] == "subscription" and body["payment"]["amount"] == 45000
    assert await gym.balance(member) == 0

    await gym.checkout(body["checkout_url"], "pay")
    await run_jobs()
    subscription = await gym.subscription(member, body["subscription"]["id"])
    assert subscription["status"] == "active"
    assert subscription["renews_automatically"] is True  # the sandbox card was saved
    start = datetime.fromisoformat(subscription["current_period_start"])
    end = datetime.fromisoformat(subscription["current_period_end"])
    assert end == add_interval(start, "month")
    assert await gym.balance(member) == 8
    lot_expiry = owner_db.value("SELECT expires_at FROM credit_lots")
    assert lot_expiry == end  # this period's credits end with it
    assert _emails(owner_db, "membership_active") == 1
    assert owner_db.value("SELECT count(*) FROM receipts") == 1

    again = await gym.subscribe(member, plan["id"])
    assert_error(again, 409, "ALREADY_SUBSCRIBED")

    # Another member sees neither it nor its payments.
    other = await gym.new_member()
    peek = await client.get(
        f"{gym.base}/subscriptions/{subscription['id']}", headers=other["headers"]
    )
    assert_error(peek, 404, "SUBSCRIPTION_NOT_FOUND")
    mine = await client.get(f"{gym.base}/subscriptions", headers=other["headers"])
    assert mine.json() == []
    everyone = await client.get(f"{gym.base}/subscriptions", headers=gym.owner["headers"])
    assert [s["id"] for s in everyone.json()] == [subscription["id"]]


async def test_an_abandoned_first_checkout_can_be_started_again(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member = await gym.new_member()
    first = (await gym.subscribe(member, plan["id"])).json()
    await gym.checkout(first["checkout_url"], "abandon")
    await run_jobs()
    second = await gym.subscribe(member, plan["id"])
    assert second.status_code == 201, second.text
    statuses = dict(owner_db.rows("SELECT id::text, status FROM subscriptions"))
    assert statuses == {
        first["subscription"]["id"]: "canceled",
        second.json()["subscription"]["id"]: "incomplete",
    }


async def test_unlimited_memberships_cover_their_class_types(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan(
        name="Unlimited yoga",
        price=90000,
        credits_per_period=None,
        unlimited=True,
        class_types=["yoga"],
    )
    member, _ = await gym.member_with(plan, run_jobs)
    yoga = await gym.occurrence(class_type="yoga", name="Flow")
    booked = await gym.book(member, yoga["id"])
    assert booked.status_code == 201, booked.text
    assert booked.json()["credits_used"] == 0
    paid_yoga = await gym.occurrence(
        class_type="yoga", name="Paid flow", price=15000, hours_ahead=40
    )
    assert (await gym.book(member, paid_yoga["id"])).status_code == 201  # no card needed
    spin = await gym.occurrence(class_type="spin", name="Spin", hours_ahead=50)
    assert_error(await gym.book(member, spin["id"]), 402, "INSUFFICIENT_CREDITS")
    members_only = await gym.occurrence(requires_membership=True, name="Members", hours_ahead=60)
    assert (await gym.book(member, members_only["id"])).status_code == 201
    outsider = await gym.new_member(credits=5)
    assert_error(await gym.book(outsider, members_only["id"]), 403, "MEMBERSHIP_REQUIRED")
    assert owner_db.value("SELECT count(*) FROM credit_lots") == 1  # only the outsider's


async def test_renewal_charges_the_saved_card(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, subscription = await gym.member_with(plan, run_jobs)
    before = _sub(owner_db, subscription["id"])
    _due_now(owner_db, subscription["id"])
    ended = _sub(owner_db, subscription["id"])["end"]
    assert await renew_memberships(timestamp=0) == 1
    assert await renew_memberships(timestamp=0) == 0  # nothing due twice
    after = _sub(owner_db, subscription["id"])
    assert after["status"] == "active" and after["start"] == ended
    assert after["end"] == add_interval(ended, "month")
    assert after["card"] == before["card"]
    assert owner_db.rows(
        "SELECT status, amount FROM payments WHERE subscription_id = %s ORDER BY created_at",
        subscription["id"],
    ) == [("succeeded", 45000), ("succeeded", 45000)]
    assert await gym.balance(member) == 16
    assert _emails(owner_db, "membership_active") == 2


async def test_failed_renewals_are_retried_then_suspended(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan(name="Members club", credits_per_period=None, unlimited=True)
    member, subscription = await gym.member_with(plan, run_jobs)
    owner_db.rows(
        "UPDATE subscriptions SET payment_method_ref = 'sbx_card_declines' WHERE id = %s",
        subscription["id"],
    )
    members_only = await gym.occurrence(requires_membership=True, name="Members")
    _due_now(owner_db, subscription["id"])
    await renew_memberships(timestamp=0)
    state = _sub(owner_db, subscription["id"])
    assert (state["status"], state["failed"]) == ("past_due", 1)
    assert abs(state["next_attempt"] - (datetime.now(UTC) + timedelta(days=1))) < timedelta(
        minutes=5
    )
    assert _emails(owner_db, "membership_payment_failed") == 1
    assert await renew_memberships(timestamp=0) == 0  # not before the retry is due
    booked = await gym.book(member, members_only["id"])  # still honoured while retried
    assert booked.status_code == 201, booked.text

    for attempt in (2, 3, 4):
        _due_now(owner_db, subscription["id"])
        assert await renew_memberships(timestamp=0) == 1
        assert _sub(owner_db, subscription["id"])["failed"] == attempt
    state = _sub(owner_db, subscription["id"])
    assert state["status"] == "suspended" and state["next_attempt"] is None
    assert _emails(owner_db, "membership_suspended") == 1
    assert (
        owner_db.value(
            "SELECT count(*) FROM payments WHERE subscription_id = %s AND status = 'failed'",
            subscription["id"],
        )
        == 4
    )
    later = await gym.occurrence(requires_membership=True, name="Members later", hours_ahead=60)
    assert_error(await gym.book(member, later["id"]), 403, "MEMBERSHIP_REQUIRED")


async def test_without_a_saved_card_renewal_is_paid_by_link(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    _, subscription = await gym.member_with(plan, run_jobs)
    owner_db.rows(
        "UPDATE subscriptions SET payment_method_ref = NULL WHERE id = %s", subscription["id"]
    )
    _due_now(owner_db, subscription["id"])
    ended = _sub(owner_db, subscription["id"])["end"]
    await renew_memberships(timestamp=0)
    assert _sub(owner_db, subscription["id"])["status"] == "past_due"
    link = owner_db.value(
        "SELECT checkout_url FROM payments WHERE subscription_id = %s AND status = 'pending'",
        subscription["id"],
    )
    body = owner_db.value(
        "SELECT body_text FROM notifications WHERE event = 'membership_renewal_due'"
    )
    assert link and link in body
    _due_now(owner_db, subscription["id"])
    await renew_memberships(timestamp=0)  # a reminder points to the same link
    assert (
        owner_db.value(
            "SELECT count(*) FROM payments WHERE subscription_id = %s AND status = 'pending'",
            subscription["id"],
        )
        == 1
    )
    assert _emails(owner_db, "membership_renewal_due") == 2

    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = %s WHERE id = %s", ended, subscription["id"]
    )
    await gym.checkout(link.replace("http://127.0.0.1:8000", "http://testserver"), "pay")
    await run_jobs()
    state = _sub(owner_db, subscription["id"])
    assert (state["status"], state["failed"], state["start"]) == ("active", 0, ended)


async def test_cancel_at_period_end_and_by_the_studio(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, subscription = await gym.member_with(plan, run_jobs)
    refused = await gym.act(member, subscription["id"], "cancel", {"immediately": True})
    assert_error(refused, 403, "FORBIDDEN")
    cancelled = await gym.client.post(  # no body needed
        f"{gym.base}/subscriptions/{subscription['id']}/cancel", headers=member["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_at_period_end"] is True
    assert cancelled.json()["renews_automatically"] is False
    assert cancelled.json()["status"] == "active"  # until the period ends
    _due_now(owner_db, subscription["id"])
    await renew_memberships(timestamp=0)
    assert _sub(owner_db, subscription["id"])["status"] == "canceled"
    assert owner_db.value("SELECT count(*) FROM payments") == 1  # nothing charged
    assert _emails(owner_db, "membership_ended") == 1

    _, second = await gym.member_with(plan, run_jobs)
    ended = await gym.act(gym.owner, second["id"], "cancel", {"immediately": True})
    assert ended.json()["status"] == "canceled"
    assert_error(
        await gym.act(gym.owner, second["id"], "cancel", {}), 409, "SUBSCRIPTION_NOT_CHANGEABLE"
    )


async def test_a_cancellation_at_period_end_is_taken_back_through_the_api(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, subscription = await gym.member_with(plan, run_jobs)
    sub_id = subscription["id"]
    # Not set to end: nothing to take back.
    assert_error(
        await gym.act(member, sub_id, "undo-cancel", {}), 409, "SUBSCRIPTION_NOT_CHANGEABLE"
    )
    assert (await gym.act(member, sub_id, "cancel", {})).status_code == 200

    # Someone else's membership, and the same one asked for at another studio: not found.
    stranger = await gym.new_member()
    assert_error(await gym.act(stranger, sub_id, "undo-cancel", {}), 404, "SUBSCRIPTION_NOT_FOUND")
    elsewhere = await gym.api.create_tenant(gym.owner, "other-gym")
    await gym.api.join(member, elsewhere["slug"])
    across = await gym.client.post(
        f"/api/v1/tenants/other-gym/subscriptions/{sub_id}/undo-cancel", headers=member["headers"]
    )
    assert_error(across, 404, "SUBSCRIPTION_NOT_FOUND")
    assert owner_db.value(
        "SELECT cancel_at_period_end FROM subscriptions WHERE id = %s", sub_id
    )  # still set to end: the refusals changed nothing

    kept = await gym.client.post(  # no body needed, like cancel
        f"{gym.base}/subscriptions/{sub_id}/undo-cancel", headers=member["headers"]
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["cancel_at_period_end"] is False
    assert kept.json()["status"] == "active"
    assert kept.json()["renews_automatically"] is True  # the sandbox saved a card

    # Once the period is over it cannot be taken back: join again instead.
    assert (await gym.act(member, sub_id, "cancel", {})).status_code == 200
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 minute' WHERE id = %s",
        sub_id,
    )
    late = assert_error(
        await gym.act(member, sub_id, "undo-cancel", {}), 409, "SUBSCRIPTION_NOT_CHANGEABLE"
    )
    assert "period is over" in late["message"]


async def test_a_pause_moves_the_period_and_covers_nothing_meanwhile(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan(name="Unlimited", credits_per_period=None, unlimited=True)
    member, subscription = await gym.member_with(plan, run_jobs)
    end_before = datetime.fromisoformat(subscription["current_period_end"])
    tomorrow = date.today() + timedelta(days=1)
    bad = [
        {"start": str(date.today() - timedelta(days=1)), "end": str(tomorrow)},
        {"start": str(tomorrow), "end": str(tomorrow)},
        {"start": str(tomorrow), "end": str(tomorrow + timedelta(days=91))},
    ]
    for body in bad:
        assert_error(
            await gym.act(member, subscription["id"], "pause", body), 422, "VALIDATION_ERROR"
        )
    paused = await gym.act(
        member,
        subscription["id"],
        "pause",
        {"start": str(tomorrow), "end": str(tomorrow + timedelta(days=14))},
    )
    assert paused.status_code == 200, paused.text
    assert datetime.fromisoformat(paused.json()["current_period_end"]) == end_before + timedelta(
        days=14
    )
    second = await gym.act(
        member,
        subscription["id"],
        "pause",
        {"start": str(tomorrow + timedelta(days=20)), "end": str(tomorrow + timedelta(days=25))},
    )
    assert_error(second, 409, "SUBSCRIPTION_NOT_CHANGEABLE")

    covered = await gym.occurrence(name="Before the pause")
    assert (await gym.book(member, covered["id"])).json()["credits_used"] == 0
    owner_db.rows(
        "UPDATE subscriptions SET paused_from = now() - interval '1 day' WHERE id = %s",
        subscription["id"],
    )
    during = await gym.occurrence(name="During the pause", hours_ahead=60)
    assert_error(await gym.book(member, during["id"]), 402, "INSUFFICIENT_CREDITS")


async def test_upgrades_are_prorated_and_downgrades_wait(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    yearly = await gym.plan(name="Yearly", price=450000, interval="year")
    member, subscription = await gym.member_with(small, run_jobs)
    # Halfway through the period: half the difference is due, and half the extra credits.
    owner_db.rows(
        "UPDATE subscriptions SET current_period_start = now() - interval '15 days', "
        "current_period_end = now() + interval '15 days' WHERE id = %s",
        subscription["id"],
    )
    mismatch = await gym.act(member, subscription["id"], "change-plan", {"plan_id": yearly["id"]})
    assert_error(mismatch, 422, "VALIDATION_ERROR")
    upgrade = await gym.act(member, subscription["id"], "change-plan", {"plan_id": big["id"]})
    assert upgrade.status_code == 200, upgrade.text
    due = upgrade.json()["payment"]["amount"]
    assert abs(due - (85000 - 45000) // 2) <= 2  # to the second: a few cents either way
    assert upgrade.json()["subscription"]["plan_id"] == small["id"]  # not until paid
    await gym.checkout(upgrade.json()["checkout_url"], "pay")
    await run_jobs()
    assert _sub(owner_db, subscription["id"])["plan"] == big["id"]
    assert await gym.balance(member) == 8 + 6  # (20 - 8) / 2 more for this half
    assert _emails(owner_db, "membership_upgraded") == 1
    assert (
        owner_db.value(
            "SELECT count(*) FROM receipts r JOIN payments p ON p.id = r.payment_id "
            "WHERE p.purpose = 'subscription_upgrade'"
        )
        == 1
    )

    downgrade = await gym.act(member, subscription["id"], "change-plan", {"plan_id": small["id"]})
    assert downgrade.json()["payment"] is None
    assert downgrade.json()["subscription"]["next_plan_id"] == small["id"]
    _due_now(owner_db, subscription["id"])
    await renew_memberships(timestamp=0)
    state = _sub(owner_db, subscription["id"])
    assert (state["plan"], state["next_plan"]) == (small["id"], None)
    assert (
        owner_db.value(
            "SELECT amount FROM payments WHERE subscription_id = %s "
            "ORDER BY created_at DESC LIMIT 1",
            subscription["id"],
        )
        == 45000
    )


async def test_paying_an_abandoned_checkout_later_is_refunded(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member = await gym.new_member()
    first = (await gym.subscribe(member, plan["id"])).json()
    second = (await gym.subscribe(member, plan["id"])).json()  # started afresh
    await gym.checkout(second["checkout_url"], "pay")
    await gym.checkout(first["checkout_url"], "pay")  # the old tab, paid too
    await run_jobs()
    assert _sub(owner_db, second["subscription"]["id"])["status"] == "active"
    assert _sub(owner_db, first["subscription"]["id"])["status"] == "canceled"
    assert dict(owner_db.rows("SELECT id::text, status FROM payments")) == {
        second["payment"]["id"]: "succeeded",
        first["payment"]["id"]: "refunded",
    }
    assert _emails(owner_db, "membership_payment_refunded") == 1
    assert await gym.balance(member) == 8  # credits of one period only


async def test_an_upgrade_paid_after_its_period_is_refunded(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    member, subscription = await gym.member_with(small, run_jobs)
    upgrade = await gym.act(member, subscription["id"], "change-plan", {"plan_id": big["id"]})
    assert upgrade.json()["payment"]["purpose"] == "subscription_upgrade"
    owner_db.rows(  # the renewal fails meanwhile: past due, the period it was priced for over
        "UPDATE subscriptions SET status = 'past_due', current_period_end = now() WHERE id = %s",
        subscription["id"],
    )
    await gym.checkout(upgrade.json()["checkout_url"], "pay")
    await run_jobs()
    state = _sub(owner_db, subscription["id"])
    assert (state["status"], state["plan"]) == ("past_due", small["id"])  # not a new period
    assert (
        owner_db.value("SELECT status FROM payments WHERE id = %s", upgrade.json()["payment"]["id"])
        == "refunded"
    )


async def test_members_hear_three_days_before_a_renewal(
    gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    _, subscription = await gym.member_with(plan, run_jobs)
    assert await renew_memberships(timestamp=0) == 0
    assert _emails(owner_db, "membership_renewing") == 0  # a month away
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() + interval '2 days' WHERE id = %s",
        subscription["id"],
    )
    for _ in range(2):
        await renew_memberships(timestamp=0)
    assert _emails(owner_db, "membership_renewing") == 1
    body = owner_db.value("SELECT body_text FROM notifications WHERE event = 'membership_renewing'")
    assert "ZAR 450.00" in body and "saved card" in body
    # Set to end instead: nothing to announce for the next period.
    owner_db.rows("DELETE FROM notifications WHERE event = 'membership_renewing'")
    owner_db.rows(
        "UPDATE subscriptions SET cancel_at_period_end = true WHERE id = %s", subscription["id"]
    )
    await renew_memberships(timestamp=0)
    assert _emails(owner_db, "membership_renewing") == 0
