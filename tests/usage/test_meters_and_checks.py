"""Meters over the API (staff only, what they count fixed once they count), limit checks
and a member's usage, and the monthly partitions' upkeep."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Owner, assert_error
from tests.usage.conftest import Creator, RunJobs


def _event(customer: str, name: str = "ai_review", **extra: Any) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "customer": customer, "event": name, **extra}


async def test_meters_are_managed_by_staff_and_fixed_once_counting(
    creator: Creator, database: Any
) -> None:
    url = f"{creator.base}/usage/meters"
    meter = await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    assert meter["aggregation"] == "count" and meter["reset"] == "billing_period"
    taken = await creator.client.post(
        url, headers=creator.owner["headers"], json={**meter_body(), "slug": "reviews"}
    )
    assert_error(taken, 409, "METER_SLUG_TAKEN")
    for bad in (
        {**meter_body(), "slug": "Has Spaces"},
        {**meter_body(), "aggregation": "median"},
        {**meter_body(), "name": None},
        {**meter_body(), "slug": "x\x00"},
        {**meter_body(), "value_property": "minutes"},  # a count takes none
    ):
        refused = await creator.client.post(url, headers=creator.owner["headers"], json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    member = await creator.new_member()
    assert_error(
        await creator.client.post(url, headers=member["headers"], json=meter_body()),
        403,
        "INSUFFICIENT_ROLE",
    )
    assert (await creator.client.get(url, headers=member["headers"])).status_code == 403
    patch_url = f"{url}/{meter['id']}"
    # Nothing counted yet: what it counts may still change.
    changed = await creator.client.patch(
        patch_url, headers=creator.owner["headers"], json={"event_name": "review"}
    )
    assert changed.status_code == 200 and changed.json()["event_name"] == "review"
    await creator.ingest(database, [_event(member["user"]["id"], "review")])
    in_use = await creator.client.patch(
        patch_url, headers=creator.owner["headers"], json={"aggregation": "sum"}
    )
    assert_error(in_use, 409, "METER_IN_USE")
    renamed = await creator.client.patch(
        patch_url, headers=creator.owner["headers"], json={"name": "Reviews", "unit": "reviews"}
    )
    assert renamed.status_code == 200 and renamed.json()["unit"] == "reviews"
    archived = await creator.client.patch(
        patch_url, headers=creator.owner["headers"], json={"archived": True}
    )
    assert archived.json()["archived_at"] is not None
    listed = await creator.client.get(url, headers=creator.owner["headers"])
    assert listed.json() == []
    assert_error(
        await creator.client.patch(
            f"{url}/{uuid.uuid4()}", headers=creator.owner["headers"], json={"name": "x"}
        ),
        404,
        "METER_NOT_FOUND",
    )


def meter_body() -> dict[str, Any]:
    return {"slug": "other", "name": "Other", "event_name": "other"}


async def test_checks_answer_from_the_tier_and_the_running_total(
    creator: Creator, database: Any, run_jobs: RunJobs
) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    await creator.meter(slug="calls", name="Calls", event_name="call")
    plan = await creator.plan(
        name="Coach Pro",
        usage_caps={"reviews": 10, "calls": {"included": 2, "hard": False}},
        feature_entitlements=["video-checkins"],
    )
    member, _ = await creator.tier_member(plan, run_jobs)
    me = member["user"]["id"]
    ok = (await creator.check(customer=me, meter="reviews")).json()
    assert ok["allowed"] and ok["state"] == "ok" and ok["used"] == "0" and ok["limit"] == "10"
    assert ok["resets_at"] is not None and ok["tier"] == "Coach Pro"
    await creator.ingest(database, [_event(me) for _ in range(8)])
    warn = (await creator.check(customer=member["email"], meter="reviews")).json()
    assert warn["allowed"] and warn["state"] == "warn" and warn["remaining"] == "2"
    too_many = (await creator.check(customer=me, meter="reviews", amount=3)).json()
    assert not too_many["allowed"] and too_many["state"] == "blocked"
    await creator.ingest(database, [_event(me, "call") for _ in range(5)])
    soft = (await creator.check(customer=me, meter="calls")).json()
    assert soft["allowed"] and soft["state"] == "warn" and soft["hard_cap"] is False
    feature = (await creator.check(customer=me, feature="video-checkins")).json()
    assert feature["allowed"] and feature["state"] == "ok"
    assert not (await creator.check(customer=me, feature="ai-coach")).json()["allowed"]
    loner = await creator.new_member()
    untiered = (await creator.check(customer=loner["user"]["id"], meter="reviews")).json()
    assert not untiered["allowed"] and untiered["tier"] is None
    for params, code in (
        ({"customer": me}, "CHECK_QUERY_INVALID"),
        ({"customer": me, "meter": "reviews", "feature": "x"}, "CHECK_QUERY_INVALID"),
        ({"customer": "nobody@example.com", "meter": "reviews"}, "CUSTOMER_NOT_FOUND"),
        ({"customer": me, "meter": "nope"}, "METER_NOT_FOUND"),
    ):
        response = await creator.check(**params)
        assert response.status_code in (404, 422), (params, response.text)
        assert response.json()["error"]["code"] == code
    bad_amount = await creator.check(customer=me, meter="reviews", amount=0)
    assert bad_amount.status_code == 422
    mine = await creator.client.get(f"{creator.base}/usage/mine", headers=member["headers"])
    assert mine.status_code == 200
    lines = {line["meter"]: line for line in mine.json()}
    assert lines["reviews"]["used"] == "8" and lines["reviews"]["limit"] == "10"
    assert lines["calls"]["used"] == "5"
    member_asks = await creator.client.get(
        f"{creator.base}/usage/check", headers=member["headers"], params={"customer": me}
    )
    assert member_asks.status_code == 403
    other_studio = await creator.api.signup()
    await creator.api.create_tenant(other_studio, "other-studio")
    wrong_tenant = await creator.client.get(
        f"/api/v1/tenants/other-studio/usage/customers/{me}", headers=creator.owner["headers"]
    )
    assert wrong_tenant.status_code == 403


def test_partitions_are_made_ahead_and_dropped_after_retention(owner_db: Owner) -> None:
    def months() -> list[str]:
        return [
            name
            for (name,) in owner_db.rows(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1"
            )
        ]

    owner_db.rows("SELECT usage_events_keep_partitions(4, 1200)")
    made = months()
    assert "usage_events_default" in made and len(made) >= 6
    owner_db.rows(
        "CREATE TABLE usage_events_2001_01 PARTITION OF usage_events "
        "FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')"
    )
    owner_db.rows("SELECT usage_events_keep_partitions(4, 24)")
    assert "usage_events_2001_01" not in months()
    assert len(months()) == len(made)
