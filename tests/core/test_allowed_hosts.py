"""Only our own host names are answered: the configured ones, and studios' verified custom
domains (added at run time, so found through the tenant cache, not a static list)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from studioloop.app import create_app
from studioloop.config import Settings
from studioloop.core.hosts import host_of, matches
from studioloop.db.engine import Database, create_database, set_database
from tests.conftest import Api, Owner, assert_error
from tests.fakes.smtp import free_port

PRODUCTION = {
    "environment": "production",
    "base_url": "https://app.studioloop.example",
    "base_domain": "studios.example",
    "password_hash_cheap": False,
}


def _app(settings: Settings, **changes: Any) -> Any:
    return create_app(settings.model_copy(update={**PRODUCTION, **changes}))


@pytest.fixture
async def production(database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# Any path but the probes' would do; a static file costs the least.
async def _get(client: httpx.AsyncClient, host: str, path: str = "/static/css/app.css") -> Any:
    return await client.get(path, headers={"host": host})


def test_the_defaults_follow_the_environment(settings: Settings) -> None:
    assert settings.host_patterns == ["*"]  # test (and development): anything
    production = settings.model_copy(update=PRODUCTION)
    assert production.host_patterns == [
        "app.studioloop.example",
        "studios.example",
        "*.studios.example",
    ]
    listed = Settings(allowed_hosts="API.example.com, *.example.net ,")  # type: ignore[arg-type]
    assert listed.host_patterns == ["api.example.com", "*.example.net"]


def test_host_names_are_compared_without_port_case_or_final_dot() -> None:
    assert host_of("App.Example.COM:8443") == "app.example.com"
    assert host_of("example.com.") == "example.com"
    assert host_of("[::1]:8000") == "[::1]"
    assert matches("a.b.example", ["*.example"])
    assert not matches("example", ["*.example"])  # a wildcard means subdomains only
    assert not matches("evilexample", ["*.example"])


async def test_production_answers_its_own_hosts_and_refuses_others(
    production: httpx.AsyncClient,
) -> None:
    for host in ("app.studioloop.example", "studios.example", "loop-yoga.studios.example:443"):
        assert (await _get(production, host)).status_code == 200, host
    for host in ("evil.example", "studios.example.evil.example", "", "localhost"):
        refused = await _get(production, host)
        error = assert_error(refused, 400, "INVALID_HOST")
        assert error["details"] == {"host": host_of(host)}
        assert refused.headers["content-type"] == "application/json"
        assert refused.headers["x-content-type-options"] == "nosniff"
    # Probes and scrapers call by address.
    assert (await _get(production, "10.0.0.7:8000", "/health")).status_code == 200
    assert (await _get(production, "10.0.0.7:8000", "/metrics")).status_code == 200
    assert (await _get(production, "10.0.0.7:8000")).status_code == 400


async def test_a_verified_custom_domain_is_answered_at_once(
    api: Api, owner_db: Owner, production: httpx.AsyncClient
) -> None:
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    owner_db.rows("UPDATE tenants SET custom_domain = 'yoga.example.org' WHERE slug = 'loop-yoga'")
    assert_error(await _get(production, "yoga.example.org"), 400, "INVALID_HOST")

    operator = await api.signup(first_name="Ops")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE id = %s", operator["user"]["id"])
    verified = await api.client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=operator["headers"],
        json={"custom_domain_verified": True},
    )
    assert verified.status_code == 200, verified.text
    # The refusal above was cached; verifying the domain clears every process's cache.
    production_app = production._transport.app  # type: ignore[attr-defined]
    production_app.state.tenant_cache.clear()  # what the NOTIFY listener does when running
    answered = await _get(production, "Yoga.Example.org", "/api/v1/tenants/loop-yoga")
    assert answered.status_code == 200, answered.text
    assert answered.json()["slug"] == "loop-yoga"


async def test_a_host_that_cannot_be_looked_up_is_answered_later(
    production: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    unreachable = create_database(
        settings, owner_url=f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    )
    set_database(unreachable)
    try:
        later = await _get(production, "yoga.example.org")
        assert_error(later, 503, "SERVICE_UNAVAILABLE")
        assert later.headers["retry-after"] == "5"
        # Our own hosts need no look-up.
        assert (await _get(production, "studios.example")).status_code == 200
    finally:
        set_database(database)
        await unreachable.dispose()


async def test_an_explicit_list_replaces_the_default(database, settings: Settings) -> None:
    app = _app(settings, allowed_hosts=["api.example.com", "*.example.net"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await _get(client, "api.example.com")).status_code == 200
        assert (await _get(client, "x.example.net")).status_code == 200
        assert_error(await _get(client, "app.studioloop.example"), 400, "INVALID_HOST")


async def test_a_websocket_to_an_unknown_host_is_closed(database, settings: Settings) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/api/v1/chat/ws",
        "headers": [(b"host", b"evil.example")],
        "query_string": b"",
    }
    await _app(settings)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unknown host"}]
