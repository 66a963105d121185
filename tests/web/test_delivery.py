"""How pages and files travel: text over 1 KB compressed for clients that accept it."""

from __future__ import annotations

import httpx
import pytest

from studioloop.app import create_app


@pytest.fixture
async def web(database, settings):
    app = create_app(settings.model_copy(update={"environment": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


async def test_text_over_a_kilobyte_is_compressed(web: httpx.AsyncClient) -> None:
    for path in ("/", "/static/css/app.css", "/api/v1/openapi.json"):
        response = await web.get(path, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200, path
        assert response.headers.get("content-encoding") == "gzip", path
        assert response.headers["vary"].lower().find("accept-encoding") >= 0, path
    plain = await web.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    small = await web.get("/health", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers
