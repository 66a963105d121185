from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.payments.conftest import RunJobs, ShopStudio, run_jobs

__all__ = ["MemberStudio", "RunJobs", "run_jobs"]  # run_jobs: the fixture, for these tests


class MemberStudio(ShopStudio):
    async def plan(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Eight a month", "price": 45000, "credits_per_period": 8, **fields}
        created = await self.client.post(
            f"{self.base}/membership-plans", headers=self.owner["headers"], json=body
        )
        assert created.status_code == 201, created.text
        result: dict[str, Any] = created.json()
        return result

    async def subscribe(self, person: dict[str, Any], plan_id: str) -> Any:
        return await self.client.post(
            f"{self.base}/payments/subscriptions",
            headers=person["headers"],
            json={"plan_id": plan_id},
        )

    async def member_with(
        self, plan: dict[str, Any], jobs: RunJobs, **credits: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A member whose first payment for `plan` went through: (member, subscription)."""
        member = await self.new_member(**credits)
        started = await self.subscribe(member, plan["id"])
        assert started.status_code == 201, started.text
        await self.checkout(started.json()["checkout_url"], "pay")
        await jobs()
        return member, await self.subscription(member, started.json()["subscription"]["id"])

    async def subscription(self, person: dict[str, Any], subscription_id: str) -> dict[str, Any]:
        found = await self.client.get(
            f"{self.base}/subscriptions/{subscription_id}", headers=person["headers"]
        )
        assert found.status_code == 200, found.text
        result: dict[str, Any] = found.json()
        return result

    async def act(
        self, person: dict[str, Any], subscription_id: str, action: str, body: dict[str, Any]
    ) -> Any:
        return await self.client.post(
            f"{self.base}/subscriptions/{subscription_id}/{action}",
            headers=person["headers"],
            json=body,
        )


@pytest.fixture
async def gym(api: Api) -> MemberStudio:
    return await MemberStudio(api, "loop-yoga").setup()
