"""Getting chat events to every api process.

By default an event is published with PostgreSQL's NOTIFY inside the transaction that
stored the change, so it is delivered exactly when that transaction commits (never for a
rolled-back one), and each process keeps one LISTEN connection. With REDIS_URL set, events
go through Redis pub/sub instead (it carries far more traffic than NOTIFY's single queue),
published right after the commit.

Each process hands events to the WebSockets it holds for that room (`ChatHub`). A message
event carries only its sequence number (NOTIFY payloads are capped at 8 kB): each socket
then reads, from the database, every message after the last one it sent, so a burst, a gap,
a lost connection or a Redis message that never came all end the same way: at the next
event, or at reconnection, the socket catches up.

While Redis is unreachable, an event that cannot be published is handed to this process's
own sockets directly, so people connected to the same process still talk live; sockets on
other processes get it when the listener is subscribed again (every socket resyncs then)
or when they reconnect. Nothing fails: posting a message still answers 201.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from typing import Any

import psycopg
import redis
import redis.asyncio
from sqlalchemy import event as sqlalchemy_event, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from studioloop.chat.models import ChatMessage
from studioloop.chat.schemas import MessageOut
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import enter_tenant_for_transaction

logger = get_logger(__name__)
CHANNEL = "studioloop_chat"
QUEUE_SIZE = 500
PENDING = "chat_events"
_in_flight: set[asyncio.Task[None]] = set()


_redis: Any = None  # redis.asyncio.Redis when REDIS_URL is set (see `use_redis`)
_local_hub: ChatHub | None = None  # this process's sockets (see `listen`)
_redis_lost = False  # a publish failed; logged once until one succeeds again
# A Redis that does not answer the connection (rather than refusing it) is given up after
# this long; its absence is then the same as a refusal.
REDIS_CONNECT_TIMEOUT_SECONDS = 1.0


def use_redis(url: str | None) -> None:
    """Choose the fan-out for this process: Redis pub/sub with a URL, else PostgreSQL."""
    global _redis
    _redis = (
        redis.asyncio.Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS)
        if url
        else None
    )


async def publish(
    session: AsyncSession, tenant_id: uuid.UUID, room_id: uuid.UUID, event: dict[str, Any]
) -> None:
    """Announce an event once the session's transaction commits (never for a rolled-back
    one). Nothing is sent now: the events wait in the session, and go with the commit."""
    payload = json.dumps({"t": str(tenant_id), "r": str(room_id), **event})
    session.info.setdefault(PENDING, []).append(payload)


# One statement for all of a transaction's events, in their order. NOTIFY would deliver
# them at commit anyway; sent as the commit begins, they cost one round trip instead of one
# each, and none while a message's room is locked (repository.py).
_NOTIFY_ALL = text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[]))"
    " WITH ORDINALITY AS events(payload, n) ORDER BY n"
)


@sqlalchemy_event.listens_for(Session, "before_commit")
def _notify_before_commit(sync_session: Session) -> None:
    """Without Redis, hand this transaction's events to PostgreSQL's NOTIFY, which
    delivers them when (and only if) the transaction commits."""
    if _redis is not None or not sync_session.info.get(PENDING):
        return
    payloads = sync_session.info.pop(PENDING)
    sync_session.execute(_NOTIFY_ALL, {"channel": CHANNEL, "payloads": payloads})


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _forget(sync_session: Session) -> None:
    """A rolled-back transaction announces nothing."""
    sync_session.info.pop(PENDING, None)


@sqlalchemy_event.listens_for(Session, "after_commit")
def _send_after_commit(sync_session: Session) -> None:
    """Publish to Redis what this transaction announced, now that it is stored. (Every
    session passes here; one without chat events returns at once.)"""
    payloads = sync_session.info.pop(PENDING, None)
    if not payloads:
        return
    client = _redis
    if client is None:
        return

    async def send() -> None:
        global _redis_lost
        for sent, payload in enumerate(payloads):
            try:
                await client.publish(CHANNEL, payload)
            except redis.RedisError as error:
                if not _redis_lost:
                    _redis_lost = True
                    logger.warning(
                        "redis unreachable: chat events reach this process's sockets only",
                        error=str(error),
                    )
                await _deliver_here(payloads[sent:])
                return
        _redis_lost = False

    task = asyncio.get_running_loop().create_task(send())
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


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


async def _deliver_here(payloads: list[str]) -> None:
    """Events Redis did not take, to this process's own sockets (the others catch up when
    the listener is back on Redis; see the module's note)."""
    if _local_hub is None:
        return
    for payload in payloads:
        try:
            await _hand_over(_local_hub, payload)
        except Exception as error:  # a socket's catch-up covers it; never the sender's error
            logger.warning("chat event not delivered locally", error=str(error))


async def _hand_over(hub: ChatHub, payload: str | bytes) -> None:
    event = json.loads(payload)
    room_id = uuid.UUID(event["r"])
    if not hub.has(room_id):
        return
    if event.get("k") == "message":
        # Read once here for every socket of this process in the room; a socket that finds
        # a gap before it reads the rest itself.
        try:
            event["message"] = await _read_message(uuid.UUID(event["t"]), room_id, int(event["s"]))
        except (SQLAlchemyError, psycopg.Error) as error:
            # No connection within the pool's timeout, or the database went away: the
            # event goes without its message and each socket reads what it lacks. Raised,
            # it would end the listener, and this process's sockets would hear nothing more.
            logger.warning("chat message not read for the sockets", error=str(error))
    hub.deliver(room_id, event)


async def _read_message(
    tenant_id: uuid.UUID, room_id: uuid.UUID, seq: int
) -> dict[str, Any] | None:
    async with get_database().sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        message = await session.scalar(
            select(ChatMessage).where(ChatMessage.room_id == room_id, ChatMessage.seq == seq)
        )
        if message is None:
            return None
        return MessageOut.model_validate(message).model_dump(mode="json")


async def listen(conninfo: str, hub: ChatHub) -> None:
    """Run until cancelled: pass every chat event for a room with sockets here to them."""
    global _local_hub
    _local_hub = hub
    if _redis is not None:
        await _listen_redis(hub)
        return
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                hub.resync_all()  # anything published while we were not listening
                async for notice in conn.notifies():
                    await _hand_over(hub, notice.payload)
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, ValueError, KeyError) as error:
            logger.warning("chat listener lost its connection", error=str(error))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1)


async def _listen_redis(hub: ChatHub) -> None:
    lost = False  # logged once per outage, not at every attempt to subscribe again
    while True:
        try:
            async with _redis.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                if lost:
                    lost = False
                    logger.warning("chat listener subscribed to redis again")
                hub.resync_all()  # anything published while we were not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await _hand_over(hub, message["data"])
        except asyncio.CancelledError:
            raise
        except (redis.RedisError, ValueError, KeyError) as error:
            if not lost:
                logger.warning("chat listener lost redis", error=str(error))
            lost = isinstance(error, redis.RedisError)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1)
