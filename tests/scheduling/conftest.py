from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api


class Studio:
    """A studio with an owner, an instructor, a member, a location and a room."""

    def __init__(self, api: Api, slug: str) -> None:
        self.api = api
        self.client = api.client
        self.slug = slug
        self.base = f"/api/v1/tenants/{slug}"

    async def setup(self, **tenant: Any) -> Studio:
        self.owner = await self.api.signup(first_name="Owner")
        self.tenant = await self.api.create_tenant(self.owner, self.slug, **tenant)
        self.instructor = await self.add_staff("instructor", "Sipho")
        self.member = await self.api.signup(first_name="Member")
        await self.api.join(self.member, self.slug)
        location = await self.post(
            "/locations",
            {
                "name": "Main studio",
                "address": {"city": "Cape Town"},
                "latitude": -33.92,
                "longitude": 18.42,
            },
        )
        self.location_id = location["id"]
        room = await self.post(
            f"/locations/{self.location_id}/rooms", {"name": "Studio A", "capacity": 20}
        )
        self.room_id = room["id"]
        return self

    async def add_staff(self, role: str, first_name: str) -> dict[str, Any]:
        person = await self.api.signup(first_name=first_name)
        await self.api.join(person, self.slug)
        response = await self.client.patch(
            f"{self.base}/members/{person['user']['id']}",
            headers=self.owner["headers"],
            json={"role": role},
        )
        assert response.status_code == 200, response.text
        return person

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        status: int = 201,
        as_user: dict[str, Any] | None = None,
    ) -> Any:
        user = as_user or self.owner
        response = await self.client.post(f"{self.base}{path}", headers=user["headers"], json=body)
        assert response.status_code == status, response.text
        return response.json()

    async def make_class(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Morning Vinyasa",
            "class_type": "yoga",
            "duration_minutes": 60,
            "max_capacity": 12,
            "instructor_id": self.instructor["user"]["id"],
            "location_id": self.location_id,
            "room_id": self.room_id,
            **overrides,
        }
        return dict(await self.post("/classes", body))

    async def schedule_at(self, class_id: str, start: datetime, **extra: Any) -> dict[str, Any]:
        created = await self.post(
            "/schedules", {"class_id": class_id, "start_time": start.isoformat(), **extra}
        )
        return dict(created["occurrences"][0])


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def studio(api: Api) -> Studio:
    return await Studio(api, "loop-yoga").setup()
