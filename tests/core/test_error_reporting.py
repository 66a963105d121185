"""Errors go to Sentry only when SENTRY_DSN is set; nothing is sent or set up otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import sentry_sdk

from studioloop import __version__
from studioloop.app import create_app
from studioloop.config import Settings
from tests.fakes.sentry import FakeSentry

# A process of its own: the SDK, once started, patches Starlette for the whole process.
SERVER_ERROR = """
import asyncio
import httpx
import sentry_sdk
from studioloop.app import create_app
from studioloop.core.logging import configure_logging

configure_logging("CRITICAL", "json")
app = create_app()


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("the test route failed on purpose")


async def main() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get(
            "/boom",
            headers={"Authorization": "Bearer not-for-sentry", "Cookie": "sl=cookie-value-7f3a"},
        )
    print(answer.status_code, answer.json()["error"]["code"])


asyncio.run(main())
sentry_sdk.flush(timeout=10)
"""


def test_without_a_dsn_nothing_is_set_up(settings: Settings) -> None:
    assert settings.sentry_dsn is None
    create_app(settings)
    assert not sentry_sdk.is_initialized()


def test_an_unhandled_error_is_reported_without_personal_data() -> None:
    with FakeSentry() as sentry:
        env = {**os.environ, "ENVIRONMENT": "test", "SENTRY_DSN": sentry.dsn}
        result = subprocess.run(
            [sys.executable, "-c", SERVER_ERROR],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        # The client still gets our envelope.
        assert result.stdout.split() == ["500", "INTERNAL_ERROR"]
        deadline = time.monotonic() + 5
        while not sentry.events() and time.monotonic() < deadline:
            time.sleep(0.05)
        [event] = sentry.events()
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == (
        "RuntimeError",
        "the test route failed on purpose",
    )
    assert event["environment"] == "test"
    assert event["release"] == f"studioloop@{__version__}"
    raw = b"".join(sentry.envelopes)
    assert b"not-for-sentry" not in raw and b"cookie-value-7f3a" not in raw
