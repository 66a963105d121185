"""A streaming read replica (a hot standby) for public reads that may be a little stale.

Marketplace search and the public timetables read through `ReadSession` (db/session.py):
on the replica while it is at most REPLICA_MAX_LAG_SECONDS behind, otherwise on the
primary. Everything else, and every write, stays on the primary. The replica is a physical
copy of the same database, so the app role, its grants and row-level security are the same
there, and `set_config('app.tenant_id', ..., true)` works in a standby's read-only
transactions like anywhere else.

How far behind it is, is an upper bound, measured at most once a second per process (the
verdict is kept for `LAG_CHECK_INTERVAL_SECONDS`, so reads may be that much staler still):

- the primary's WAL insert position is read first, then the replica's replay position: a
  replica that has replayed up to it holds everything committed before the check began
  (lag: the time the two reads took);
- otherwise the replica is at least as new as the last commit it replayed, so the lag is
  at most `now - pg_last_xact_replay_timestamp()`. (That alone would call an idle,
  caught-up replica stale: hence the positions first.)

A replica that cannot be asked within `LAG_CHECK_TIMEOUT_SECONDS`, or whose lag is
unknown, is not used until the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from studioloop.core.logging import get_logger

logger = get_logger(__name__)

LAG_CHECK_INTERVAL_SECONDS = 1.0
LAG_CHECK_TIMEOUT_SECONDS = 1.0

PRIMARY_POSITION_SQL = "SELECT pg_current_wal_insert_lsn()::text"
# Outside recovery (a promoted or mistaken "replica") the replay functions answer NULL.
_REPLICA_STATE_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn() >= %s::pg_lsn AS caught_up,
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
           AS since_last_replayed_commit
"""

PrimaryPosition = Callable[[], Awaitable[str | None]]


@dataclass
class Replica:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    conninfo: str
    connect_args: dict[str, Any]
    max_lag_seconds: float
    # The last measured upper bound of the lag (inf: unknown or unreachable).
    lag_seconds: float = math.inf
    _usable: bool = False
    _checked_at: float = -math.inf
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _connection: psycopg.AsyncConnection[Any] | None = None

    async def usable(self, primary_position: PrimaryPosition) -> bool:
        """Whether reads may go to the replica now (cached for a second)."""
        if time.monotonic() - self._checked_at < LAG_CHECK_INTERVAL_SECONDS:
            return self._usable
        async with self._lock:
            # Another request may have checked while this one waited for the lock.
            if time.monotonic() - self._checked_at >= LAG_CHECK_INTERVAL_SECONDS:
                self.lag_seconds = await self._measure_lag(primary_position)
                self._usable = self.lag_seconds <= self.max_lag_seconds
                self._checked_at = time.monotonic()
        return self._usable

    def distrust(self) -> None:
        """Send reads to the primary until the next check (a replica connection failed)."""
        self._usable = False
        self._checked_at = time.monotonic()

    async def _measure_lag(self, primary_position: PrimaryPosition) -> float:
        started = time.monotonic()
        try:
            async with asyncio.timeout(LAG_CHECK_TIMEOUT_SECONDS):
                position = await primary_position()
                lag = await self._replica_lag(position)
        except (psycopg.Error, OSError, TimeoutError) as error:
            logger.warning("read replica not usable", error=str(error) or type(error).__name__)
            await self._forget_connection()
            return math.inf
        return time.monotonic() - started if lag == 0 else lag

    async def _replica_lag(self, primary_position: str | None) -> float:
        """0 when caught up with `primary_position`, else the upper bound from the last
        replayed commit (inf if unknown)."""
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, **self.connect_args
            )
        cursor = await self._connection.execute(_REPLICA_STATE_SQL, (primary_position,))
        row = await cursor.fetchone()
        if row is None:
            return math.inf
        in_recovery, caught_up, since_last_replayed_commit = row
        if not in_recovery or caught_up:
            return 0.0
        if since_last_replayed_commit is None:  # nothing replayed since it started
            return math.inf
        return max(0.0, float(since_last_replayed_commit))

    async def _forget_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await connection.close()

    async def dispose(self) -> None:
        await self._forget_connection()
        await self.engine.dispose()
