"""Engines and the session factory, created once per process.

The app connects as the owner's URL but switches to DATABASE_APP_ROLE as the connection
starts (libpq `options=-c role=...`), unless APP_DATABASE_URL logs in as that role directly.
Either way every query runs under row-level security; only migrations run as the owner.
"""

from __future__ import annotations

import select
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolClosed
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from studioloop.config import Settings
from studioloop.db.urls import libpq_conninfo, normalise_url, owner_database_url

# Enough for the rush gate's reads (booking/rush_gate.py): one statement each, no waiting on
# locks, so a few connections serve hundreds of answers a second.
AUTOCOMMIT_POOL_SIZE = 4
# A read that cannot get a connection this soon, or run within the statement timeout, is
# better left to the caller's fallback: a rush is meant to settle within a second.
AUTOCOMMIT_WAIT_SECONDS = 0.2
AUTOCOMMIT_STATEMENT_TIMEOUT_MS = 1000


@dataclass
class Database:
    owner_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    app_conninfo: str = ""
    app_connect_args: dict[str, Any] = field(default_factory=dict)
    _autocommit_pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
    _disposed: bool = False

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

    async def dispose(self) -> None:
        self._disposed = True
        if self._autocommit_pool is not None:
            await self._autocommit_pool.close()
            self._autocommit_pool = None
        await self.engine.dispose()


def create_database(settings: Settings, owner_url: str | None = None) -> Database:
    owner_url = owner_url or owner_database_url(settings)
    connect_args: dict[str, object] = {}
    if settings.app_database_url:
        app_url = normalise_url(settings.app_database_url)
    else:
        app_url = owner_url
        connect_args["options"] = f"-c role={settings.database_app_role}"
    if "connect_timeout" not in make_url(app_url).query:
        connect_args["connect_timeout"] = settings.database_connect_timeout
    engine = create_async_engine(
        app_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        # Not `pool_pre_ping`: a SELECT 1 round trip on every checkout, one of the nine a
        # booking made. The checkout listener below finds the same dead connections
        # without one (decision 0007).
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "checkout", refuse_closed_connection)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
    return Database(
        owner_url=owner_url,
        engine=engine,
        sessionmaker=sessionmaker,
        app_conninfo=libpq_conninfo(app_url),
        app_connect_args=connect_args,
    )


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
