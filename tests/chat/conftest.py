from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.booking.conftest import BookingStudio
from tests.conftest import Api


class ChatStudio(BookingStudio):
    async def guest(self, name: str = "Thabo", email: str = "thabo@example.com") -> dict[str, Any]:
        response = await self.client.post(
            f"{self.base}/guest/token", json={"name": name, "email": email}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        body["headers"] = {"Authorization": f"Bearer {body['token']}"}
        return body

    async def open(self, who: dict[str, Any], subject: str = "Parking?", **extra: Any) -> Any:
        return await self.client.post(
            f"{self.base}/chat/rooms", headers=who["headers"], json={"subject": subject, **extra}
        )

    async def say(self, who: dict[str, Any], room_id: str, body: str) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/chat/rooms/{room_id}/messages",
            headers=who["headers"],
            json={"body": body},
        )


@pytest.fixture
async def studio(api: Api) -> ChatStudio:
    return await ChatStudio(api, "loop-yoga").setup()
