"""A studio's usage events forwarded to its own PostHog project: only when it asks, only
what was accepted, once committed, retried while PostHog is down."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Owner
from tests.fakes.posthog import FakePostHog
from tests.usage.conftest import Creator, RunJobs


async def test_accepted_events_reach_the_studios_posthog(
    creator: Creator,
    settings: Any,
    owner_db: Owner,
    run_jobs: RunJobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    member = await creator.new_member()
    made = await creator.client.post(
        f"{creator.base}/api-keys",
        headers=creator.owner["headers"],
        json={"name": "App", "scopes": ["usage:write"]},
    )
    key = {"Authorization": f"Bearer {made.json()['secret']}"}

    def report(*ids: str) -> Any:
        events = [
            {"event_id": i, "customer": member["email"], "event": "ai_review",
             "properties": {"model": "v2"}}
            for i in ids
        ]  # fmt: skip
        events.append({"event_id": "bad", "customer": "nobody@example.com", "event": "x"})
        return creator.client.post("/api/v1/usage/events", headers=key, json={"events": events})

    with FakePostHog() as posthog:
        monkeypatch.setattr(settings, "posthog_eu_host", posthog.url)
        assert (await report("a1")).status_code == 200
        await run_jobs()
        assert posthog.batches == []  # off until the studio sets it up
        patched = await creator.client.patch(
            f"{creator.base}",
            headers=creator.owner["headers"],
            json={"settings": {"posthog_api_key": "phc_test", "posthog_region": "eu"}},
        )
        assert patched.status_code == 200, patched.text
        posthog.down = True
        assert (await report("a2", "a3")).json()["accepted"] == 2
        await run_jobs()
        assert posthog.batches == []  # PostHog down: the job waits for its retry
        posthog.down = False
        assert (await report("a2", "a3")).json()["duplicates"] == 2  # nothing forwarded twice
        owner_db.rows(  # the retry's time comes
            "UPDATE procrastinate_jobs SET scheduled_at = now() "
            "WHERE status = 'todo' AND task_name = 'forward_usage_to_posthog'"
        )
        await run_jobs()
    sent = [event for batch in posthog.batches for event in batch["batch"]]
    assert all(batch["api_key"] == "phc_test" for batch in posthog.batches)
    assert sorted(e["properties"]["$insert_id"] for e in sent) == ["a2", "a3"]
    assert all(e["distinct_id"] == member["user"]["id"] for e in sent)
    assert all(e["properties"]["model"] == "v2" and e["event"] == "ai_review" for e in sent)
