"""A pooled connection the server has ended is replaced at checkout, without a ping.

The engine does not ping on checkout (decision 0007); `refuse_closed_connection` finds a
connection the server closed by looking at its socket. First shown: without that check,
the next request after a server-side disconnect fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from studioloop.config import Settings
from studioloop.db.engine import Database, create_database, refuse_closed_connection
from studioloop.db.urls import libpq_conninfo


async def _backend_pid(database: Database) -> int:
    async with database.sessionmaker() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await session.commit()
    assert isinstance(pid, int)
    return pid


async def _terminate(owner_url: str, pid: int) -> None:
    """End the session from the server side, as a restart or an idle timeout would."""
    async with await psycopg.AsyncConnection.connect(
        libpq_conninfo(owner_url), autocommit=True
    ) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            cursor = await admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            if await cursor.fetchone() is None:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} is still there")


@pytest.fixture
async def lone_database(settings: Settings, owner_url: str) -> AsyncIterator[Database]:
    """An engine of its own, so the pool holds exactly the connection under test."""
    database = create_database(settings, owner_url=owner_url)
    yield database
    await database.dispose()


async def test_without_the_check_a_closed_connection_fails_the_next_request(
    lone_database: Database, owner_url: str
) -> None:
    event.remove(lone_database.engine.sync_engine, "checkout", refuse_closed_connection)
    pid = await _backend_pid(lone_database)
    await _terminate(owner_url, pid)
    with pytest.raises(DBAPIError):
        await _backend_pid(lone_database)


async def test_a_connection_the_server_ended_is_replaced_at_checkout(
    lone_database: Database, owner_url: str
) -> None:
    pid = await _backend_pid(lone_database)
    assert await _backend_pid(lone_database) == pid  # the pool reuses its connection
    await _terminate(owner_url, pid)
    replacement = await _backend_pid(lone_database)
    assert replacement != pid
    assert await _backend_pid(lone_database) == replacement


async def test_a_healthy_connection_is_kept(lone_database: Database) -> None:
    pids = {await _backend_pid(lone_database) for _ in range(5)}
    assert len(pids) == 1
