"""Taking in usage events: counted once, each bad event refused on its own, caps that
stop a batch midway, closed periods, and totals that agree with a rebuild from events."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.usage import rebuild
from tests.conftest import Owner
from tests.usage.conftest import Creator, RunJobs


def _event(customer: str, name: str = "ai_review", **extra: Any) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "customer": customer, "event": name, **extra}


def _totals(owner_db: Owner) -> dict[tuple[str, str, str], tuple[Decimal, int]]:
    rows = owner_db.rows(
        "SELECT m.slug, a.user_id, a.period_start, a.value, a.events FROM usage_aggregates a "
        "JOIN usage_meters m ON m.id = a.meter_id WHERE a.events > 0"
    )
    return {
        (slug, str(user), str(start)): (value, events) for slug, user, start, value, events in rows
    }


async def _meters(creator: Creator) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    await creator.meter(
        slug="minutes", name="Video minutes", event_name="video", aggregation="sum",
        value_property="minutes", unit="minutes",
    )  # fmt: skip
    await creator.meter(
        slug="devices", name="Devices", event_name="login", aggregation="unique_count",
        value_property="device", reset="month",
    )  # fmt: skip
    await creator.meter(
        slug="peak", name="Peak seats", event_name="seats", aggregation="max", reset="never"
    )
    await creator.meter(slug="storage", name="Storage", event_name="storage", aggregation="latest")


async def test_a_batch_counts_once_and_a_retry_changes_nothing(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await _meters(creator)
    plan = await creator.plan(name="Coach Pro", usage_caps={"reviews": 100})
    one, _ = await creator.tier_member(plan, run_jobs)
    two = await creator.new_member()  # no tier: counted in calendar months

    def minutes_ago(minutes: int) -> str:
        return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()

    batch = [
        _event(one["user"]["id"]),
        _event(one["email"].upper()),  # by email, any case
        _event(two["email"]),
        _event(one["user"]["id"], "video", properties={"minutes": 12.5}),
        _event(one["user"]["id"], "video", properties={"minutes": 30}),
        _event(one["user"]["id"], "login", properties={"device": "phone"}),
        _event(one["user"]["id"], "login", properties={"device": "phone"}),
        _event(one["user"]["id"], "login", properties={"device": "laptop"}),
        _event(one["user"]["id"], "seats", value=7),
        _event(one["user"]["id"], "seats", value=3),
        _event(one["user"]["id"], "storage", value=5, timestamp=minutes_ago(2)),
        _event(one["user"]["id"], "storage", value=2, timestamp=minutes_ago(1)),
        _event(one["user"]["id"], "not_metered"),  # stored, counted by no meter
    ]  # fmt: skip
    first = await creator.ingest(database, batch)
    assert (first.accepted, first.duplicates, first.rejected) == (13, 0, [])
    by_meter = {(slug, user): value for (slug, user, _), (value, _) in _totals(owner_db).items()}
    me, other = one["user"]["id"], two["user"]["id"]
    assert by_meter[("reviews", me)] == 2 and by_meter[("reviews", other)] == 1
    assert by_meter[("minutes", me)] == Decimal("42.5")
    assert by_meter[("devices", me)] == 2
    assert by_meter[("peak", me)] == 7
    assert by_meter[("storage", me)] == 2  # the newest, not the largest
    before = _totals(owner_db)
    again = await creator.ingest(database, batch)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 13, [])
    assert _totals(owner_db) == before
    assert owner_db.value("SELECT count(*) FROM usage_events") == 13


async def test_each_bad_event_is_refused_on_its_own(
    creator: Creator, database: Any, owner_db: Owner
) -> None:
    await _meters(creator)
    member = await creator.new_member()
    me = member["user"]["id"]
    soon = datetime.now(UTC) + timedelta(hours=1)
    batch: list[Any] = [
        _event(me),  # 0: fine
        {"event_id": "x", "event": "ai_review"},  # 1: no customer
        _event(me, value="5"),  # 2: a number as text
        _event(me, value=True),  # 3: a boolean is not a number
        _event("nobody@example.com"),  # 4: not a member
        _event(str(uuid.uuid4())),  # 5: no such user
        _event(me, timestamp=soon.isoformat()),  # 6: the future
        _event(me, "video", properties={"minutes": "lots"}),  # 7: not a number
        _event(me, "login"),  # 8: no device
        {**_event(me), "event_id": "bad\x00id"},  # 9: NUL
        _event(me, properties={"note": "\ud800"}),  # 10: lone surrogate
        "not an object",  # 11
        _event(me, timestamp="2026-12-07T10:00:00"),  # 12: no UTC offset
        {**_event(me), "extra": 1},  # 13: unknown field
        _event(me),  # 14: fine
    ]
    batch.append({**batch[14]})  # 15: the same id again in the batch: a duplicate
    result = await creator.ingest(database, batch)
    codes = {r.index: r.code for r in result.rejected}
    assert codes == {
        1: "INVALID_EVENT", 2: "INVALID_EVENT", 3: "INVALID_EVENT", 4: "UNKNOWN_CUSTOMER",
        5: "UNKNOWN_CUSTOMER", 6: "FUTURE_TIMESTAMP", 7: "MISSING_PROPERTY",
        8: "MISSING_PROPERTY", 9: "INVALID_EVENT", 10: "INVALID_EVENT", 11: "INVALID_EVENT",
        12: "INVALID_EVENT", 13: "INVALID_EVENT",
    }  # fmt: skip
    assert all(r.message for r in result.rejected)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert owner_db.value("SELECT count(*) FROM usage_events") == 2


async def test_a_hard_cap_stops_a_batch_midway_and_warns_once(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await _meters(creator)
    plan = await creator.plan(
        name="Starter",
        usage_caps={
            "reviews": 5,
            "minutes": {"included": 10, "hard": False, "overage_unit_price": 200},
        },
    )
    member, _ = await creator.tier_member(plan, run_jobs)
    me = member["user"]["id"]
    first = await creator.ingest(database, [_event(me) for _ in range(4)])  # 80%: warned
    assert first.accepted == 4
    second = await creator.ingest(database, [_event(me) for _ in range(3)])
    assert second.accepted == 1
    assert [r.code for r in second.rejected] == ["LIMIT_REACHED", "LIMIT_REACHED"]
    assert [r.index for r in second.rejected] == [1, 2]
    # The refused ids were given back: once the cap allows, a retry counts.
    refused = second.rejected[0].event_id
    assert owner_db.value("SELECT count(*) FROM usage_event_keys WHERE event_id = %s", refused) == 0
    soft = await creator.ingest(
        database, [_event(me, "video", properties={"minutes": 8}) for _ in range(3)]
    )
    assert soft.accepted == 3  # past a soft cap: counted, billed later
    sent = owner_db.rows(
        "SELECT event, count(*) FROM notifications WHERE user_id = %s AND event LIKE 'usage%%' "
        "GROUP BY event ORDER BY event",
        uuid.UUID(me),
    )
    # reviews: 80%, then 100%; minutes: 80% and 100% crossed in one batch: only the 100%
    assert sent == [("usage_limit_reached", 2), ("usage_warning", 1)]
    more = await creator.ingest(database, [_event(me, "video", properties={"minutes": 1})])
    assert more.accepted == 1
    assert owner_db.value(
        "SELECT count(*) FROM notifications WHERE user_id = %s AND event LIKE 'usage%%'",
        uuid.UUID(me),
    ) == 3  # fmt: skip


async def test_closed_periods_refuse_late_events(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await _meters(creator)
    plan = await creator.plan(name="Coach Pro", usage_caps={"reviews": 100})
    member, subscription = await creator.tier_member(plan, run_jobs)
    loner = await creator.new_member()
    # As if renewed a day ago: the period before it was invoiced then.
    owner_db.rows(
        "UPDATE subscriptions SET created_at = now() - interval '40 days', "
        "current_period_start = now() - interval '1 day' WHERE id = %s",
        uuid.UUID(subscription["id"]),
    )
    before_period = (datetime.now(UTC) - timedelta(days=1, hours=1)).isoformat()
    months_ago = (datetime.now(UTC) - timedelta(days=70)).isoformat()
    result = await creator.ingest(
        database,
        [
            _event(member["user"]["id"], timestamp=before_period),  # invoiced period
            _event(loner["user"]["id"], "login", properties={"device": "a"}, timestamp=months_ago),
            _event(member["user"]["id"], "seats", value=2, timestamp=months_ago),  # never resets
        ],
    )
    assert [r.code for r in result.rejected] == ["PERIOD_CLOSED", "PERIOD_CLOSED"]
    assert result.accepted == 1


async def test_concurrent_batches_agree_with_a_rebuild_from_events(
    creator: Creator, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    """Random batches with duplicates, sent at once for the same customers: the running
    totals equal the ones recomputed from the stored events by the rebuild command."""
    await _meters(creator)
    plan = await creator.plan(name="Coach Pro", usage_caps={"reviews": 100_000})
    customers = [(await creator.tier_member(plan, run_jobs))[0]["user"]["id"] for _ in range(2)]
    customers.append((await creator.new_member())["user"]["id"])
    chance = random.Random(7)
    sent: list[dict[str, Any]] = []

    def one() -> dict[str, Any]:
        if sent and chance.random() < 0.2:
            return dict(chance.choice(sent))  # a retry of something sent before
        who = chance.choice(customers)
        kind = chance.choice(["ai_review", "video", "login", "seats", "storage"])
        extra: dict[str, Any] = {
            "video": {"properties": {"minutes": chance.randint(1, 90)}},
            "login": {"properties": {"device": f"d{chance.randint(1, 6)}"}},
            "seats": {"value": chance.randint(1, 40)},
            "storage": {
                "value": chance.randint(1, 500),
                "timestamp": (
                    datetime.now(UTC) - timedelta(seconds=chance.randint(0, 3600))
                ).isoformat(),
            },
        }.get(kind, {})
        event = _event(who, kind, **extra)
        sent.append(event)
        return event

    batches = [[one() for _ in range(chance.randint(20, 120))] for _ in range(12)]
    results = []
    for start in range(0, len(batches), 4):  # four at a time, on four connections
        results += await asyncio.gather(
            *(creator.ingest(database, batch) for batch in batches[start : start + 4])
        )
    assert all(not r.rejected for r in results)
    unique_ids = {event["event_id"] for event in sent}
    assert sum(r.accepted for r in results) == len(unique_ids)
    kept = _totals(owner_db)
    async with database.sessionmaker() as session:
        tenant_id = uuid.UUID(creator.tenant["id"])
        await enter_tenant_for_transaction(session, tenant_id)
        await rebuild.rebuild(session, tenant_id, "Africa/Johannesburg")
        await session.commit()
    assert _totals(owner_db) == kept


async def test_an_empty_distinct_value_counts_once_across_batches(
    creator: Creator, database: Any, owner_db: Owner
) -> None:
    """ "" is a value like any other: seen in an earlier batch, it is not new again (and
    the rebuild, which folds every stored event at once, agrees)."""
    await _meters(creator)
    member = (await creator.new_member())["user"]["id"]

    for _ in range(2):
        result = await creator.ingest(
            database, [_event(member, "login", properties={"device": ""})]
        )
        assert result.accepted == 1

    kept = _totals(owner_db)
    assert [value for (slug, _, _), (value, _) in kept.items() if slug == "devices"] == [1]
    async with database.sessionmaker() as session:
        tenant_id = uuid.UUID(creator.tenant["id"])
        await enter_tenant_for_transaction(session, tenant_id)
        await rebuild.rebuild(session, tenant_id, "Africa/Johannesburg")
        await session.commit()
    assert _totals(owner_db) == kept
