from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, Owner
from tests.payments.conftest import (  # the fixtures, for the tests here
    ShopStudio,
    fake_stripe,
    stripe_client,
    stripe_settings,
)

__all__ = ["fake_stripe", "stripe_client", "stripe_settings"]

SEARCH = "/api/v1/marketplace/search"
BOOK = "/api/v1/marketplace/bookings"


class MarketStudio(ShopStudio):
    """A studio on the marketplace, with its location where the test puts it."""

    async def place(self, lat: float, lng: float, name: str = "Marketplace studio") -> str:
        location = await self.post(
            "/locations",
            {"name": name, "address": {"city": "Somewhere"}, "latitude": lat, "longitude": lng},
        )
        return str(location["id"])

    async def listing(
        self,
        location_id: str | None = None,
        *,
        hours_ahead: float = 30,
        capacity: int = 12,
        **class_fields: Any,
    ) -> dict[str, Any]:
        """A class occurrence at `location_id` (the studio's main location by default)."""
        template = await self.make_class(
            max_capacity=capacity,
            room_id=None,
            location_id=location_id or self.location_id,
            instructor_id=None,
            **class_fields,
        )
        start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(microsecond=0)
        return await self.schedule_at(template["id"], start)


async def make_operator(api: Api, owner_db: Owner) -> dict[str, Any]:
    operator = await api.signup(first_name="Operator")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    return operator


async def give_universal(
    api: Api, operator: dict[str, Any], person: dict[str, Any], n: int
) -> None:
    response = await api.client.post(
        f"/api/v1/users/{person['user']['id']}/credits/universal/adjustments",
        headers=operator["headers"],
        json={"amount": n, "reason": "Marketplace welcome", "valid_days": 60},
    )
    assert response.status_code == 201, response.text


async def universal_balance(api: Api, person: dict[str, Any]) -> int:
    response = await api.client.get(
        f"/api/v1/users/{person['user']['id']}/credits/universal", headers=person["headers"]
    )
    assert response.status_code == 200, response.text
    return int(response.json()["credits_balance"])


@pytest.fixture
async def market(api: Api) -> MarketStudio:
    return await MarketStudio(api, "sea-point-yoga").setup(name="Sea Point Yoga")


@pytest.fixture
async def operator(api: Api, owner_db: Owner) -> dict[str, Any]:
    return await make_operator(api, owner_db)
