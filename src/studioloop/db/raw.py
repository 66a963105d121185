"""Plain SQL on the request's own connection, for the few hot paths.

Most code goes through the ORM. The booking path is where a popular class opens and a few
hundred members press "Book" in the same second, and there the ORM's per-statement cost
dominated: about 1 ms of CPU per statement for compiling, result processing and the
identity map, against ~0.1 ms for the same statement sent by psycopg directly
(docs/benchmarks.md). So those statements go to psycopg, on the very connection and in the
very transaction of the SQLAlchemy session: they commit or roll back with the request.

Statements are prepared server-side on first use (psycopg keeps them per connection), so a
warm pooled connection skips parsing and planning too.

Rules for callers: the SQL is static text with `%s` placeholders (never formatted with
values), and rows changed here are not refreshed in the session's identity map, so a
caller that also holds ORM objects of the same rows must not trust their loaded values
(the credits code locks its rows with `populate_existing` for that reason).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db.engine import AUTOCOMMIT_WAIT_SECONDS, get_database

Params = Sequence[Any] | Mapping[str, Any]


_CACHE_KEY = "studioloop.raw.driver_connection"


async def driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session, its transaction begun."""
    if session.new or session.dirty or session.deleted:
        # Pending ORM changes must reach the database before plain SQL reads around them.
        await session.flush()
    # Asking the session costs a greenlet switch each time; the connection cannot change
    # while the same transaction lasts, so it is remembered for that transaction. The key
    # includes the savepoint too: SQLAlchemy emits SAVEPOINT only when a nested
    # transaction first asks for its connection, so skipping that would write outside it.
    sync = session.sync_session
    root, nested = sync.get_transaction(), sync.get_nested_transaction()
    cached = session.info.get(_CACHE_KEY)
    # `is`, on the transaction objects the cache itself keeps alive (no reused ids).
    if root is not None and cached is not None and cached[0] is root and cached[1] is nested:
        driver: AsyncConnection[Any] = cached[2]
        return driver
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection  # type: ignore[assignment]
    session.info[_CACHE_KEY] = (sync.get_transaction(), sync.get_nested_transaction(), driver)
    return driver


async def fetch_one(session: AsyncSession, sql: LiteralString, params: Params = ()) -> Any:
    """The first row (a named tuple: columns by name), or None."""
    connection = await driver_connection(session)
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(sql, params, prepare=True)
        return await cursor.fetchone()


async def fetch_all(session: AsyncSession, sql: LiteralString, params: Params = ()) -> list[Any]:
    connection = await driver_connection(session)
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(sql, params, prepare=True)
        return await cursor.fetchall()


async def execute(session: AsyncSession, sql: LiteralString, params: Params = ()) -> int:
    """Run a statement; the number of rows it touched."""
    connection = await driver_connection(session)
    async with connection.cursor() as cursor:
        await cursor.execute(sql, params, prepare=True)
        return cursor.rowcount


async def send(session: AsyncSession, sql: LiteralString, params: Params = ()) -> AsyncCursor[Any]:
    """Run a statement without waiting for its answer where that can wait: inside
    `pipeline`, it travels with the block's other statements and its rows (named tuples)
    are read from the returned cursor after the block. Outside one it runs at once.

    Inside a pipeline a failed statement raises later: at the end of the block, or at a
    later statement of the block whose answer has to be waited for."""
    connection = await driver_connection(session)
    cursor = connection.cursor(row_factory=namedtuple_row)
    await cursor.execute(sql, params, prepare=True)
    return cursor


@asynccontextmanager
async def pipeline(session: AsyncSession) -> AsyncIterator[None]:
    """Send the statements of the block in one round trip (psycopg's pipeline mode).

    Each round trip costs the server process about 0.1-0.2 ms of CPU in asyncio's
    machinery whatever the statement, and the booking path is bound by that CPU
    (docs/benchmarks.md). Statements whose answers are read inside the block (`fetch_*`)
    still wait, for everything sent before them; those sent with `send` wait for the end
    of the block. (A transaction's BEGIN is not saved: psycopg sends it and waits for it
    even in a pipeline, so open the transaction before the block.)

    Only this module's functions inside: the ORM reads a statement's rows as soon as it
    has sent it, and in a pipeline they have not arrived yet."""
    # Asked before the block: any pending ORM flush or SAVEPOINT is sent the usual way.
    connection = await driver_connection(session)
    async with connection.pipeline():
        yield


async def fetch_one_outside_transaction(sql: LiteralString, params: Params = ()) -> Any:
    """One read in autocommit, on the database's small autocommit pool: no BEGIN, no
    ROLLBACK, no session, no liveness ping. Only for a read that decides nothing by itself
    (booking/rush_gate.py: a rush answered at the door; anything it cannot answer goes
    through a transaction). A connection error propagates: callers fall back."""
    pool = await get_database().autocommit_pool()
    async with (
        pool.connection(timeout=AUTOCOMMIT_WAIT_SECONDS) as connection,
        connection.cursor(row_factory=namedtuple_row) as cursor,
    ):
        await cursor.execute(sql, params, prepare=True)
        return await cursor.fetchone()
