"""Universal credits never expire silently: the member hears a week ahead, and sees the
expiry of every lot."""

from __future__ import annotations

from typing import Any

from studioloop.credits.tasks import expire_credits
from tests.conftest import Api, Owner
from tests.payments.conftest import RunJobs, run_jobs

__all__ = ["run_jobs"]  # the fixture


async def test_universal_credits_expiring_are_announced_and_every_lot_shows_its_expiry(
    api: Api, operator: dict[str, Any], owner_db: Owner, run_jobs: RunJobs
) -> None:
    explorer = await api.signup(first_name="Explorer")
    universal = f"/api/v1/users/{explorer['user']['id']}/credits/universal"
    for amount, days in ((3, 4), (5, 90)):
        granted = await api.client.post(
            f"{universal}/adjustments",
            headers=operator["headers"],
            json={"amount": amount, "reason": "Gift", "valid_days": days},
        )
        assert granted.status_code == 201, granted.text
    for _ in range(2):  # hourly: told once
        await expire_credits.defer_async(timestamp=0)
        await run_jobs()
    rows = owner_db.rows(
        "SELECT user_id::text, body_text FROM notifications WHERE event = 'credits_expiring'"
    )
    assert len(rows) == 1, rows
    assert rows[0][0] == explorer["user"]["id"]
    assert "3 of your credits" in rows[0][1]

    lots = (await api.client.get(universal, headers=explorer["headers"])).json()["lots"]
    assert [(lot["remaining"], lot["expires_at"] is not None) for lot in lots] == [
        (3, True),
        (5, True),
    ]
