"""`studioloop usage rebuild STUDIO`, run as a real subprocess."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Owner
from tests.test_cli import run
from tests.usage.conftest import Creator


async def test_the_rebuild_command_recounts_a_studios_totals(
    creator: Creator, database: Any, owner_db: Owner
) -> None:
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review")
    member = await creator.new_member()
    events = [
        {"event_id": uuid.uuid4().hex, "customer": member["user"]["id"], "event": "ai_review"}
        for _ in range(5)
    ]
    assert (await creator.ingest(database, events)).accepted == 5
    owner_db.rows("UPDATE usage_aggregates SET value = 999, events = 999")  # a total gone wrong
    rebuilt = run("usage", "rebuild", "loop-yoga")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 usage totals rebuilt" in rebuilt.stdout
    assert owner_db.rows("SELECT value, events FROM usage_aggregates") == [(5, 5)]
    unknown = run("usage", "rebuild", "no-such-studio")
    assert unknown.returncode != 0 and "no studio" in unknown.stderr
