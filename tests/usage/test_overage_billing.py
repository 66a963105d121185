"""Usage past a tier's soft caps is billed with the renewal: a line per meter on the
renewal payment and its receipt, priced by the plan the ending period was on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from studioloop.billing.tasks import renew_memberships
from tests.conftest import Owner
from tests.usage.conftest import Creator, RunJobs


def _due_now(owner_db: Owner, subscription_id: str) -> None:
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 minute', "
        "current_period_start = now() - interval '1 month' WHERE id = %s",
        uuid.UUID(subscription_id),
    )


async def test_a_renewal_bills_usage_past_soft_caps(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await creator.meter(
        slug="minutes", name="Video minutes", event_name="video", aggregation="sum",
        value_property="minutes", unit="minutes",
    )  # fmt: skip
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    await creator.meter(slug="logins", name="Logins", event_name="login", reset="month")
    plan = await creator.plan(
        name="Coach Pro",
        price=29900,
        credits_per_period=None,
        usage_caps={
            "minutes": {"included": 120, "hard": False, "overage_unit_price": 150},
            "reviews": 200,  # hard: never billed
            "logins": {"included": 1, "hard": False, "overage_unit_price": 100},  # monthly
        },
    )
    member, subscription = await creator.tier_member(plan, run_jobs)
    calm, calm_subscription = await creator.tier_member(plan, run_jobs)
    _due_now(owner_db, subscription["id"])
    _due_now(owner_db, calm_subscription["id"])
    me = member["user"]["id"]

    def event(name: str, **extra: Any) -> dict[str, Any]:
        return {"event_id": uuid.uuid4().hex, "customer": me, "event": name, **extra}

    result = await creator.ingest(
        database,
        [
            event("video", properties={"minutes": 100}),
            event("video", properties={"minutes": 55.5}),
            *(event("ai_review") for _ in range(3)),
            *(event("login") for _ in range(5)),
            {"event_id": "calm", "customer": calm["user"]["id"], "event": "video",
             "properties": {"minutes": 30}},
        ],
    )  # fmt: skip
    assert result.accepted == 11
    assert await renew_memberships(timestamp=0) == 2
    rows = owner_db.rows(
        "SELECT p.amount, p.lines, p.description, r.lines FROM payments p "
        "JOIN receipts r ON r.payment_id = p.id "
        "WHERE p.subscription_id = %s ORDER BY p.created_at DESC LIMIT 1",
        uuid.UUID(subscription["id"]),
    )
    amount, lines, description, receipt_lines = rows[0]
    # 35.5 minutes past 120 at R1.50: 5325 cents; part units round up.
    assert amount == 29900 + 5325
    assert description == "Coach Pro membership, renewal, with usage"
    assert [line["amount"] for line in lines] == [29900, 5325]
    assert lines[1]["description"] == "Video minutes: 35.5 minutes past the 120 included"
    assert receipt_lines == lines
    calm_rows = owner_db.rows(
        "SELECT amount, lines FROM payments WHERE subscription_id = %s "
        "ORDER BY created_at DESC LIMIT 1",
        uuid.UUID(calm_subscription["id"]),
    )
    assert calm_rows == [(29900, [])]  # within the cap: a plain renewal
    payment_id = owner_db.value(
        "SELECT id FROM payments WHERE subscription_id = %s ORDER BY created_at DESC LIMIT 1",
        uuid.UUID(subscription["id"]),
    )
    pdf = await creator.client.get(
        f"{creator.base}/payments/{payment_id}/receipt.pdf", headers=member["headers"]
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_a_renewal_rolls_the_period_over(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    """After the renewal, usage counts from zero in the new period, the check says so, and
    late events for the period just billed are refused."""
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    plan = await creator.plan(name="Coach Pro", credits_per_period=None, usage_caps={"reviews": 5})
    member, subscription = await creator.tier_member(plan, run_jobs)
    _due_now(owner_db, subscription["id"])
    owner_db.rows(  # subscribed when that period began, as a month-old membership was
        "UPDATE subscriptions SET created_at = now() - interval '1 month' WHERE id = %s",
        uuid.UUID(subscription["id"]),
    )
    me = member["user"]["id"]

    def review(**extra: Any) -> dict[str, Any]:
        return {"event_id": uuid.uuid4().hex, "customer": me, "event": "ai_review", **extra}

    assert (await creator.ingest(database, [review() for _ in range(5)])).accepted == 5
    full = (await creator.check(customer=me, meter="reviews")).json()
    assert full["used"] == "5" and full["state"] == "blocked"
    old_period_end = owner_db.value(
        "SELECT current_period_end FROM subscriptions WHERE id = %s", uuid.UUID(subscription["id"])
    )
    assert await renew_memberships(timestamp=0) == 1
    fresh = (await creator.check(customer=me, meter="reviews")).json()
    assert fresh["used"] == "0" and fresh["allowed"] and fresh["state"] == "ok"
    late = await creator.ingest(
        database, [review(timestamp=(old_period_end - timedelta(hours=1)).isoformat())]
    )
    assert [r.code for r in late.rejected] == ["PERIOD_CLOSED"]
    assert (await creator.ingest(database, [review()])).accepted == 1
    assert (await creator.check(customer=me, meter="reviews")).json()["used"] == "1"
