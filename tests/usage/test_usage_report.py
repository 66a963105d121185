"""What the usage pages read: a meter's daily trend from the stored events, picked and
aggregated as the meter counts, and this period's report agreeing with the checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.usage import service
from tests.usage.conftest import Creator, RunJobs


def _event(customer: str, name: str, minutes_ago: int = 0, **extra: Any) -> dict[str, Any]:
    """An event that happened `minutes_ago` (0: now, no timestamp)."""
    event = {"event_id": uuid.uuid4().hex, "customer": customer, "event": name, **extra}
    if minutes_ago:
        event["timestamp"] = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return event


async def test_each_aggregation_has_its_daily_figure(creator: Creator, database: Any) -> None:
    await creator.meter(slug="calls", name="Calls", event_name="call")
    await creator.meter(
        slug="minutes", name="Minutes", event_name="call", aggregation="sum",
        value_property="minutes",
    )  # fmt: skip
    await creator.meter(
        slug="longest", name="Longest", event_name="call", aggregation="max",
        value_property="minutes",
    )  # fmt: skip
    await creator.meter(
        slug="rooms", name="Rooms", event_name="call", aggregation="unique_count",
        value_property="room",
    )  # fmt: skip
    await creator.meter(
        slug="last", name="Last", event_name="call", aggregation="latest",
        value_property="minutes",
    )  # fmt: skip
    await creator.meter(
        slug="video", name="Video calls", event_name="call", property_filter={"kind": "video"}
    )
    one, two = creator.member, await creator.new_member()
    video = {"kind": "video"}
    result = await creator.ingest(
        database,
        [
            _event(one["email"], "call", 3, properties={"minutes": 10, "room": "a", **video}),
            _event(one["email"], "call", 2, properties={"minutes": 30, "room": "b"}),
            _event(two["email"], "call", 1, properties={"minutes": 5, "room": "a", **video}),
            _event(two["email"], "other", 1, properties={"minutes": 99, "room": "z"}),
        ],
    )  # fmt: skip
    assert result.accepted == 4 and not result.rejected
    tenant_id = uuid.UUID(creator.tenant["id"])
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        meters = {m.slug: m for m in await service.list_meters(session, include_archived=False)}

        async def today(slug: str, user: dict[str, Any] | None = None) -> Decimal:
            trend = await service.trend(
                session, tenant_id, "Africa/Johannesburg", meters[slug],
                user_id=uuid.UUID(user["user"]["id"]) if user else None,
            )  # fmt: skip
            assert len(trend.days) == 30
            assert sum(value for _, value in trend.days[:-1]) == 0  # nothing before today
            return trend.days[-1][1]

        assert await today("calls") == 3
        assert await today("minutes") == 45
        assert await today("longest") == 30
        assert await today("rooms") == 3  # one: a and b; two: a (distinct per customer, summed)
        assert await today("last") == 5  # the newest event's
        assert await today("video") == 2
        assert await today("minutes", one) == 40
        assert await today("last", one) == 30


async def test_the_report_agrees_with_the_checks(
    creator: Creator, database: Any, run_jobs: RunJobs
) -> None:
    await creator.meter(slug="reviews", name="Reviews", event_name="review")
    plan = await creator.plan(name="Coach", usage_caps={"reviews": 5})
    tiered, _ = await creator.tier_member(plan, run_jobs)
    untiered = await creator.new_member()
    # Before the tier, in the calendar month: not this billing period's (as the check says).
    early = await creator.ingest(database, [_event(tiered["email"], "review", minutes_ago=5)])
    assert early.accepted == 1
    await creator.ingest(
        database,
        [
            *(_event(tiered["email"], "review") for _ in range(4)),
            _event(untiered["email"], "review"),
        ],
    )
    tenant_id = uuid.UUID(creator.tenant["id"])
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        found = await service.period_report(session, tenant_id, "Africa/Johannesburg")
    meter = found.meters[0]
    by_email = {c.email: c for c in found.customers}
    for person in (tiered, untiered):
        check = (await creator.check(customer=person["email"], meter="reviews")).json()
        use = by_email[person["email"]].uses[meter.id]
        assert Decimal(check["used"]) == use.used
    assert by_email[tiered["email"]].uses[meter.id].state == "warn"  # 4 of 5
    assert [c.email for c, _, _ in found.near_caps()] == [tiered["email"]]
    assert [c.email for c in found.top_consumers(meter.id)] == [tiered["email"], untiered["email"]]
    # The owner (no tier, no use) is not a customer here.
    assert creator.owner["email"] not in by_email
