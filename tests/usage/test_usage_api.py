"""The usage API a creator's app calls with an API key: events, checks and a customer's
usage, with the key's scopes and studio enforced."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from tests.conftest import Owner, assert_error
from tests.usage.conftest import Creator, RunJobs


async def _key(creator: Creator, *scopes: str) -> dict[str, str]:
    made = await creator.client.post(
        f"{creator.base}/api-keys",
        headers=creator.owner["headers"],
        json={"name": "Coach app", "scopes": list(scopes)},
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


async def test_an_app_reports_usage_and_asks_about_limits_with_its_key(
    creator: Creator, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    plan = await creator.plan(name="Coach Pro", usage_caps={"reviews": 3})
    member, _ = await creator.tier_member(plan, run_jobs)
    writer = await _key(creator, "usage:write")
    reader = await _key(creator, "usage:read")
    events = [
        {"event_id": f"e{n}", "customer": member["email"], "event": "ai_review"} for n in range(4)
    ]
    sent = await creator.client.post(
        "/api/v1/usage/events", headers=writer, json={"events": events}
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(3, "LIMIT_REACHED")]
    again = await creator.client.post(
        "/api/v1/usage/events", headers=writer, json={"events": events[:3]}
    )
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    check = await creator.client.get(
        "/api/v1/usage/check",
        headers=reader,
        params={"customer": member["user"]["id"], "meter": "reviews"},
    )
    assert check.status_code == 200, check.text
    assert check.json()["allowed"] is False and check.json()["state"] == "blocked"
    usage = await creator.client.get(
        "/api/v1/usage/customers", headers=reader, params={"customer": member["email"]}
    )
    assert [(line["meter"], line["used"], line["limit"]) for line in usage.json()] == [
        ("reviews", "3", "3")
    ]
    # Scopes are kept apart: a reader cannot report, a writer cannot read.
    assert_error(
        await creator.client.post("/api/v1/usage/events", headers=reader, json={"events": events}),
        403,
        "SCOPE_MISSING",
    )
    assert_error(
        await creator.client.get(
            "/api/v1/usage/check", headers=writer, params={"customer": "x", "meter": "reviews"}
        ),
        403,
        "SCOPE_MISSING",
    )
    # A person's token is not a key; no key at all is refused.
    assert (
        await creator.client.post(
            "/api/v1/usage/events", headers=creator.owner["headers"], json={"events": events}
        )
    ).status_code == 401
    assert (
        await creator.client.post("/api/v1/usage/events", json={"events": events})
    ).status_code == 401
    # A key works in its own studio only: another studio's member is unknown to it.
    other_owner = await creator.api.signup()
    await creator.api.create_tenant(other_owner, "other-studio")
    foreign = await creator.client.post(
        "/api/v1/usage/events",
        headers={**writer, "X-Tenant-ID": "other-studio"},
        json={"events": events},
    )
    assert_error(foreign, 403, "API_KEY_WRONG_STUDIO")
    stranger = await creator.client.post(
        "/api/v1/usage/events",
        headers=writer,
        json={
            "events": [{"event_id": "s1", "customer": other_owner["email"], "event": "ai_review"}]
        },
    )
    assert stranger.json()["rejected"][0]["code"] == "UNKNOWN_CUSTOMER"
    assert owner_db.value("SELECT count(*) FROM usage_events") == 3


async def test_batches_are_bounded_and_shaped(creator: Creator) -> None:
    writer = await _key(creator, "usage:write")
    one = {"event_id": uuid.uuid4().hex, "customer": "x@example.com", "event": "e"}
    for body, status in (
        ({"events": []}, 422),
        ({"events": [one] * 1001}, 422),
        ({"events": "nope"}, 422),
        ({"events": [one], "extra": 1}, 422),
        ({}, 422),
        ({"events": None}, 422),
    ):
        response = await creator.client.post("/api/v1/usage/events", headers=writer, json=body)
        assert response.status_code == status, (str(body)[:60], response.text[:200])
        assert response.json()["error"]["code"]
    odd: list[Any] = [None, 5, [], {"event_id": 1}]
    mixed = await creator.client.post("/api/v1/usage/events", headers=writer, json={"events": odd})
    assert mixed.status_code == 200
    assert [r["code"] for r in mixed.json()["rejected"]] == ["INVALID_EVENT"] * 4


async def test_found_in_review_each_bad_event_alone(creator: Creator, owner_db: Owner) -> None:
    """From outside, these once answered 500 (a year-1 time), sank the batch (a NUL, now
    refused per event as the contract says), or were counted (a number as text, a huge or
    negative property, a time as a number)."""
    await creator.meter(
        slug="minutes", name="Minutes", event_name="video", aggregation="sum",
        value_property="minutes",
    )  # fmt: skip
    member = await creator.new_member()
    writer = await _key(creator, "usage:write")
    me = member["email"]

    def event(n: int, **extra: Any) -> dict[str, Any]:
        return {"event_id": f"r{n}", "customer": me, "event": "video", **extra}

    batch = [
        event(0, properties={"minutes": 10}),  # fine
        event(1, properties={"minutes": 5}, timestamp="0001-01-01T00:00:00+00:00"),
        event(2, properties={"minutes": 5}, timestamp="0001-01-01T01:00:00+01:00"),
        event(3, properties={"minutes": 1e300}),
        event(4, properties={"minutes": -1e20}),
        event(5, properties={"minutes": "5"}),
        event(6, properties={"minutes": 5}, timestamp=1796677000),
        {**event(7, properties={"minutes": 5}), "event": "vid\u0000eo"},
        {**event(8, properties={"minutes": 5}), "event_id": "bad\u0000id"},
        event(9, properties={"minutes": 5, "note": "\ud800"}),
        event(10, value=-3, properties={"minutes": 5}),
        event(11, properties={"minutes": 2.5}),  # fine
    ]
    # A lone surrogate cannot be sent as UTF-8 text: the body is written with escapes.
    body = json.dumps({"events": batch})
    answer = await creator.client.post(
        "/api/v1/usage/events",
        headers={**writer, "content-type": "application/json"},
        content=body.encode(),
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    codes = {r["index"]: r["code"] for r in result["rejected"]}
    assert codes == {
        1: "INVALID_EVENT", 2: "INVALID_EVENT", 3: "MISSING_PROPERTY", 4: "MISSING_PROPERTY",
        5: "MISSING_PROPERTY", 6: "INVALID_EVENT", 7: "INVALID_EVENT", 8: "INVALID_EVENT",
        9: "INVALID_EVENT", 10: "INVALID_EVENT",
    }  # fmt: skip
    assert [r["event_id"] for r in result["rejected"] if r["index"] == 8] == [None]
    assert owner_db.value("SELECT sum(value) FROM usage_aggregates") == Decimal("12.5")


async def test_a_check_warns_for_the_amount_asked_about(
    creator: Creator, run_jobs: RunJobs
) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    plan = await creator.plan(
        name="Coach Pro", usage_caps={"reviews": {"included": 300, "hard": False}}
    )
    member, _ = await creator.tier_member(plan, run_jobs)
    reader = await _key(creator, "usage:read")

    async def state(amount: int) -> str:
        answer = await creator.client.get(
            "/api/v1/usage/check",
            headers=reader,
            params={"customer": member["email"], "meter": "reviews", "amount": amount},
        )
        return str(answer.json()["state"])

    assert await state(1) == "ok"
    assert await state(250) == "warn"  # 250 of 300 would be past 80%
    assert await state(500) == "warn"  # past a soft cap: allowed, billed
