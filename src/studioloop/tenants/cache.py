"""In-process cache of tenant lookups (slug, id, host), invalidated across processes.

Every request that names a tenant resolves it, so lookups are cached. A change to any
tenant sends `NOTIFY studioloop_tenants` inside its own transaction (PostgreSQL delivers it
only on commit); each process listens and clears its cache. The TTL bounds staleness if a
listener connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import psycopg
from cachetools import TTLCache
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.logging import get_logger

CHANNEL = "studioloop_tenants"
logger = get_logger(__name__)


@dataclass(frozen=True)
class TenantRef:
    """The few facts about a tenant that request handling needs."""

    id: uuid.UUID
    slug: str
    name: str
    status: str
    timezone: str
    currency: str


class TenantCache:
    def __init__(self, ttl_seconds: int, maxsize: int = 10_000) -> None:
        self._entries: TTLCache[tuple[str, str], TenantRef | None] = TTLCache(
            maxsize=maxsize, ttl=ttl_seconds
        )

    def get(self, key: tuple[str, str]) -> tuple[bool, TenantRef | None]:
        if key in self._entries:
            return True, self._entries[key]
        return False, None

    def put(self, key: tuple[str, str], value: TenantRef | None) -> None:
        self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()


async def announce_tenant_change(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Tell every process to forget cached lookups, once this transaction commits."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL, "payload": str(tenant_id)},
    )


async def listen_for_changes(conninfo: str, cache: TenantCache) -> None:
    """Run until cancelled: clear `cache` whenever any process changes a tenant."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                cache.clear()  # changes may have been missed while disconnected
                async for _notice in conn.notifies():
                    cache.clear()
        except asyncio.CancelledError:
            raise
        except psycopg.Error as exc:
            logger.warning("tenant cache listener lost its connection", error=str(exc))
            cache.clear()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(2)
