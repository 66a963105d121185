from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.usage import ingestion
from studioloop.usage.schemas import BatchResult
from tests.billing.conftest import MemberStudio, RunJobs, run_jobs
from tests.conftest import Api

__all__ = ["Creator", "run_jobs"]


class Creator(MemberStudio):
    """A creator selling tiers: meters made over the API, events taken in through the
    ingestion service in their own transaction, as the API's handler does."""

    async def meter(self, **fields: Any) -> dict[str, Any]:
        created = await self.client.post(
            f"{self.base}/usage/meters", headers=self.owner["headers"], json=fields
        )
        assert created.status_code == 201, created.text
        result: dict[str, Any] = created.json()
        return result

    async def ingest(self, database: Any, events: Sequence[Any]) -> BatchResult:
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, uuid.UUID(self.tenant["id"]))
            result = await ingestion.ingest(
                session, uuid.UUID(self.tenant["id"]), "Africa/Johannesburg", events
            )
            await session.commit()
            return result

    async def tier_member(
        self, plan: dict[str, Any], jobs: RunJobs
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return await self.member_with(plan, jobs)

    async def check(self, **params: Any) -> Any:
        return await self.client.get(
            f"{self.base}/usage/check", headers=self.owner["headers"], params=params
        )


@pytest.fixture
async def creator(api: Api) -> Creator:
    return await Creator(api, "loop-yoga").setup()
