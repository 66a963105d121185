from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from studioloop.config import Settings
from studioloop.jobs.app import connected_job_app
from tests.booking.conftest import BookingStudio
from tests.conftest import Api
from tests.fakes.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe

RunJobs = Callable[[], Awaitable[None]]


@pytest.fixture
async def run_jobs(database, owner_conninfo: str) -> AsyncIterator[RunJobs]:
    async with connected_job_app(owner_conninfo) as jobs:

        async def run() -> None:
            # Process what is queued, then return (no waiting for new jobs).
            await jobs.run_worker_async(
                wait=False, install_signal_handlers=False, listen_notify=False, concurrency=1
            )

        yield run


class ShopStudio(BookingStudio):
    async def package(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Ten pack", "credits": 10, "price": 12500, "validity_days": 30, **fields}
        created = await self.client.post(
            f"{self.base}/credit-packages", headers=self.owner["headers"], json=body
        )
        assert created.status_code == 201, created.text
        result: dict[str, Any] = created.json()
        return result

    async def purchase(self, person: dict[str, Any], package_id: str, **headers: str) -> Any:
        return await self.client.post(
            f"{self.base}/payments/credits/purchase",
            headers={**person["headers"], **headers},
            json={"package_id": package_id},
        )

    async def checkout(self, checkout_url: str, outcome: str) -> str:
        """Open the sandbox checkout page and press a button, as a member's browser would."""
        path = checkout_url.removeprefix("http://testserver")
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        sig = re.search(r'name="sig" value="([^"]+)"', page.text)
        assert token and sig, page.text
        answer = await self.client.post(
            path.split("?")[0],
            data={"csrf_token": token.group(1), "sig": sig.group(1), "outcome": outcome},
        )
        assert answer.status_code == 200, answer.text
        return answer.text


@pytest.fixture
async def shop(api: Api) -> ShopStudio:
    return await ShopStudio(api, "loop-yoga").setup()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def stripe_settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "stripe_secret_key": SecretStr(API_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
            "platform_fee_basis_points": 500,  # 5%
        }
    )


@pytest.fixture
async def stripe_client(database, stripe_settings: Settings) -> AsyncIterator[Any]:
    from studioloop.app import create_app

    transport = httpx.ASGITransport(app=create_app(stripe_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
