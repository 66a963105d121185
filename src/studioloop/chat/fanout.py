"""Getting chat events to every api process.

An event is published with PostgreSQL's NOTIFY inside the transaction that stored the
change, so it is delivered exactly when that transaction commits (never for a rolled-back
one). Each process keeps one LISTEN connection and hands events to the WebSockets it holds
for that room (`ChatHub`). A message event carries only its sequence number (NOTIFY
payloads are capped at 8 kB): each socket then reads, from the database, every message
after the last one it sent, so a burst, a gap or a lost connection all end the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.logging import get_logger

logger = get_logger(__name__)
CHANNEL = "studioloop_chat"
QUEUE_SIZE = 500


async def publish(
    session: AsyncSession, tenant_id: uuid.UUID, room_id: uuid.UUID, event: dict[str, Any]
) -> None:
    payload = json.dumps({"t": str(tenant_id), "r": str(room_id), **event})
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


class ChatHub:
    """The WebSockets of this process, by room. Each socket reads its own queue."""

    def __init__(self) -> None:
        self._rooms: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def subscribe(self, room_id: uuid.UUID) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._rooms[room_id].add(queue)
        return queue

    def unsubscribe(self, room_id: uuid.UUID, queue: asyncio.Queue[dict[str, Any]]) -> None:
        listeners = self._rooms.get(room_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._rooms[room_id]

    def has(self, room_id: uuid.UUID) -> bool:
        return room_id in self._rooms

    def deliver(self, room_id: uuid.UUID, event: dict[str, Any]) -> None:
        for queue in list(self._rooms.get(room_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A socket that stopped reading catches up from the database instead.
                queue.get_nowait()
                queue.put_nowait({"type": "resync"})

    def resync_all(self) -> None:
        for room_id in list(self._rooms):
            self.deliver(room_id, {"type": "resync"})


async def listen(conninfo: str, hub: ChatHub) -> None:
    """Run until cancelled: pass every chat event for a room with sockets here to them."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                hub.resync_all()  # anything published while we were not listening
                async for notice in conn.notifies():
                    event = json.loads(notice.payload)
                    room_id = uuid.UUID(event["r"])
                    if hub.has(room_id):
                        hub.deliver(room_id, event)
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, ValueError, KeyError) as error:
            logger.warning("chat listener lost its connection", error=str(error))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1)
