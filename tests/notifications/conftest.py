from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from studioloop.config import get_settings
from tests.booking.conftest import BookingStudio
from tests.conftest import Api
from tests.fakes.messaging import (
    SMS_API_KEY,
    WHATSAPP_APP_SECRET,
    WHATSAPP_PHONE_ID,
    WHATSAPP_TOKEN,
    WHATSAPP_VERIFY_TOKEN,
    FakePushService,
    FakeSmsGateway,
    FakeWhatsApp,
)
from tests.payments.conftest import RunJobs, run_jobs

__all__ = ["RunJobs", "run_jobs"]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set environment settings for the rest of the test (jobs read get_settings())."""

    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), str(value))
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def smtp_settings(configure: Callable[..., None]) -> Callable[[int], None]:
    def apply(port: int) -> None:
        configure(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls="false")

    return apply


@pytest.fixture
def whatsapp(configure: Callable[..., None]) -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        configure(
            whatsapp_api_base=fake.api_base,
            whatsapp_access_token=WHATSAPP_TOKEN,
            whatsapp_phone_number_id=WHATSAPP_PHONE_ID,
            whatsapp_app_secret=WHATSAPP_APP_SECRET,
            whatsapp_verify_token=WHATSAPP_VERIFY_TOKEN,
        )
        yield fake


@pytest.fixture
def sms(configure: Callable[..., None]) -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as fake:
        configure(sms_api_base=fake.url, sms_api_key=SMS_API_KEY)
        yield fake


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    with FakePushService() as fake:
        yield fake


class NoticeStudio(BookingStudio):
    async def phone(self, person: dict[str, Any], number: str = "+27 82 555 0101") -> None:
        response = await self.client.put(
            "/api/v1/users/profile", headers=person["headers"], json={"phone": number}
        )
        assert response.status_code == 200, response.text

    async def preferences(self, person: dict[str, Any], **changes: Any) -> dict[str, Any]:
        response = await self.client.put(
            f"{self.base}/notifications/preferences", headers=person["headers"], json=changes
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def studio(api: Api) -> NoticeStudio:
    return await NoticeStudio(api, "loop-yoga").setup()
