"""Engines and the session factory, created once per process.

The app connects as the owner's URL but switches to DATABASE_APP_ROLE as the connection
starts (libpq `options=-c role=...`), unless APP_DATABASE_URL logs in as that role directly.
Either way every query runs under row-level security; only migrations run as the owner.
"""

from __future__ import annotations

import select
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from studioloop.config import Settings
from studioloop.db.replica import PRIMARY_POSITION_SQL, Replica
from studioloop.db.urls import libpq_conninfo, normalise_url, owner_database_url

# Enough for the rush gate's reads (booking/rush_gate.py): one statement each, no waiting on
# locks, so a few connections serve hundreds of answers a second.
AUTOCOMMIT_POOL_SIZE = 4
# A read that cannot get a connection this soon, or run within the statement timeout, is
# better left to the caller's fallback: a rush is meant to settle within a second.
AUTOCOMMIT_WAIT_SECONDS = 0.2
AUTOCOMMIT_STATEMENT_TIMEOUT_MS = 1000
REPLICA_CONNECT_TIMEOUT_SECONDS = 2


@dataclass
class Database:
    owner_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    app_conninfo: str = ""
    app_connect_args: dict[str, Any] = field(default_factory=dict)
    # The streaming read replica, when DATABASE_REPLICA_URL is set (db/replica.py).
    replica: Replica | None = None
    _autocommit_pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
    _disposed: bool = False

    async def read_sessionmaker(self) -> tuple[async_sessionmaker[AsyncSession], bool]:
        """Sessions for reads that may be a little stale: (the replica's, True) while it is
        close enough behind, else (the primary's, False)."""
        if self.replica is not None and await self.replica.usable(self.primary_wal_position):
            return self.replica.sessionmaker, True
        return self.sessionmaker, False

    async def primary_wal_position(self) -> str | None:
        """Where the primary's WAL is now (None if that cannot be read at once: the lag
        check then uses its other bound, db/replica.py)."""
        try:
            pool = await self.autocommit_pool()
            async with pool.connection(timeout=AUTOCOMMIT_WAIT_SECONDS) as connection:
                cursor = await connection.execute(PRIMARY_POSITION_SQL)
                row = await cursor.fetchone()
        except (PoolTimeout, PoolClosed, psycopg.Error, OSError):
            return None
        return None if row is None else str(row[0])

    async def autocommit_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """A small pool of autocommit connections (the app role, row-level security on),
        opened on first use, for single reads that decide nothing by themselves.

        Separate from the engine's pool because a read there costs a session, a checkout
        and a BEGIN and ROLLBACK: more than the read itself, which is all the work of a
        rush answer. Here a dead connection just fails that one read, and its caller
        falls back to the request's transaction, which the engine's pool protects."""
        if self._disposed:
            raise PoolClosed("the database of this process was disposed")
        if self._autocommit_pool is None:
            options = self.app_connect_args.get("options", "")
            options = f"{options} -c statement_timeout={AUTOCOMMIT_STATEMENT_TIMEOUT_MS}"
            pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                self.app_conninfo,
                min_size=1,
                max_size=AUTOCOMMIT_POOL_SIZE,
                kwargs={**self.app_connect_args, "autocommit": True, "options": options.strip()},
                open=False,
                name="autocommit",
            )
            self._autocommit_pool = pool
            await pool.open()
        return self._autocommit_pool

    def autocommit_pool_stats(self) -> dict[str, int] | None:
        """psycopg_pool's own figures (pool_size, pool_available, requests_waiting), or None
        while the autocommit pool has not been opened."""
        if self._autocommit_pool is None:
            return None
        return self._autocommit_pool.get_stats()

    async def dispose(self) -> None:
        self._disposed = True
        if self._autocommit_pool is not None:
            await self._autocommit_pool.close()
            self._autocommit_pool = None
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()


def create_database(settings: Settings, owner_url: str | None = None) -> Database:
    owner_url = owner_url or owner_database_url(settings)
    app_url, connect_args = _app_connection(settings, owner_url, settings.app_database_url)
    engine = _engine(settings, app_url, connect_args)
    return Database(
        owner_url=owner_url,
        engine=engine,
        sessionmaker=_sessionmaker(engine),
        app_conninfo=libpq_conninfo(app_url),
        app_connect_args=connect_args,
        replica=_replica(settings),
    )


def _app_connection(
    settings: Settings, owner_url: str, app_login_url: str | None
) -> tuple[str, dict[str, Any]]:
    """The app's URL and connect arguments: its own login, or the owner's switched to
    the app role as the connection starts."""
    connect_args: dict[str, Any] = {}
    if app_login_url:
        url = normalise_url(app_login_url)
    else:
        url = owner_url
        connect_args["options"] = f"-c role={settings.database_app_role}"
    if "connect_timeout" not in make_url(url).query:
        # A server that does not answer is given up after this (DATABASE_CONNECT_TIMEOUT),
        # so requests answer 503 rather than wait (one refusing connections fails at once).
        connect_args["connect_timeout"] = settings.database_connect_timeout
    return url, connect_args


def _engine(settings: Settings, url: str, connect_args: dict[str, Any]) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        # Not `pool_pre_ping`: a SELECT 1 round trip on every checkout, one of the nine a
        # booking made. The checkout listener below finds the same dead connections
        # without one (decision 0007).
        pool_pre_ping=False,
        poolclass=WaitCountingPool,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "checkout", refuse_closed_connection)
    return engine


def _sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def _replica(settings: Settings) -> Replica | None:
    if not settings.database_replica_url:
        return None
    url, connect_args = _app_connection(
        settings, normalise_url(settings.database_replica_url), settings.app_database_replica_url
    )
    # A replica that went away must not hold a request for long: it falls back instead.
    connect_args = {**connect_args, "connect_timeout": REPLICA_CONNECT_TIMEOUT_SECONDS}
    engine = _engine(settings, url, connect_args)
    return Replica(
        engine=engine,
        sessionmaker=_sessionmaker(engine),
        conninfo=libpq_conninfo(url),
        connect_args=connect_args,
        max_lag_seconds=settings.replica_max_lag_seconds,
    )


class WaitCountingPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, counting the checkouts in progress for /metrics.

    The pool tells how many connections are checked out but not how many callers wait for
    one. A checkout that finds an idle connection returns without yielding to the event
    loop, so a scrape (on the same loop) only ever sees those that wait: for a connection
    to be returned, or for a new one to be opened."""

    waiting = 0

    def _do_get(self) -> ConnectionPoolEntry:
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1


def refuse_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: refuse a connection the server has closed, so the pool replaces it
    before the request uses it (SQLAlchemy retries the checkout on DisconnectionError).

    A pooled connection is idle: the server sends nothing on it unless asked, except when
    it ends the session (restart, `pg_terminate_backend`, `idle_session_timeout`, a
    failover), where it writes a FATAL message and closes the socket. So a socket with
    anything to read, or libpq already seeing the connection as bad, means it is gone.
    That is one `poll` system call where `pool_pre_ping` costs a round trip (decision
    0007). So no engine connection may ever LISTEN: a notification would read as the end.
    A server that went away without a word (a host lost, an address moved to another
    machine) is not seen here: the first request on such a connection fails, and
    SQLAlchemy then empties the pool."""
    connection: AsyncConnection[Any] = dbapi_connection.driver_connection
    pgconn = connection.pgconn
    if connection.closed or pgconn.status != ConnStatus.OK:
        raise DisconnectionError("connection closed")
    if pgconn.transaction_status != TransactionStatus.IDLE:
        raise DisconnectionError("connection not idle")
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server wrote to an idle connection: it ended it")


_database: Database | None = None


def set_database(database: Database | None) -> None:
    """Install the process's database (done once at start-up, and by tests)."""
    global _database
    _database = database


def get_database() -> Database:
    if _database is None:
        raise RuntimeError("The database has not been initialised in this process.")
    return _database
