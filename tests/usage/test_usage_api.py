"""The usage API a creator's app calls with an API key: events, checks and a customer's
usage, with the key's scopes and studio enforced."""

from __future__ import annotations

import uuid
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
