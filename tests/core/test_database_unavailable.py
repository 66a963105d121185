"""A database that cannot be reached is a 503 with Retry-After, never a 500, for the API
and for pages. (tests/faults/test_postgres_restart.py stops a real server under load.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from studioloop.config import Settings
from studioloop.db.engine import Database, create_database, set_database
from tests.conftest import assert_error
from tests.fakes.smtp import free_port


@pytest.fixture
async def unreachable(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a database on a port where nothing listens (connections refused)."""
    from studioloop.app import create_app

    nowhere = create_database(
        settings, owner_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/studioloop"
    )
    set_database(nowhere)
    try:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        set_database(database)
        await nowhere.dispose()


async def test_the_api_answers_503_with_retry_after(unreachable: httpx.AsyncClient) -> None:
    response = await unreachable.get("/api/v1/tenants/loop-yoga/schedules")
    error: dict[str, Any] = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "2"
    assert error["details"] == {"retry_after_seconds": 2}

    booked = await unreachable.post(
        "/api/v1/bookings",
        headers={"Authorization": "Bearer not-a-token"},
        json={"class_schedule_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert booked.status_code in (401, 503), booked.text  # never a 500


async def test_pages_answer_a_readable_503(unreachable: httpx.AsyncClient) -> None:
    page = await unreachable.get("/s/loop-yoga", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["retry-after"] == "2"
    assert "text/html" in page.headers["content-type"]


async def test_readiness_fails_and_liveness_holds(unreachable: httpx.AsyncClient) -> None:
    assert (await unreachable.get("/health")).status_code == 200
    ready = await unreachable.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error")
