"""Sending a message costs the same in a room of three messages and of thousands.

The soak benchmark (bench/soak.py) sends ~500 messages a minute into one support room. Two
reads of every send grew with what the room held: the sender's per-minute count (nothing
indexed the sender: it read the studio's every message) and the room's newest `seq`
(max(seq) over the room's messages). The room now keeps its newest `seq`; the count reads
the sender's index.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.dialects import postgresql

from studioloop.chat import service
from studioloop.chat.identity import Participant
from tests.chat.conftest import ChatStudio
from tests.conftest import Owner

OLD_MESSAGES = 3000


def _chat_message_rows_read(plan: dict[str, Any]) -> int:
    """Rows of chat_messages the plan's nodes read: kept plus filtered out."""
    read = 0
    if plan.get("Relation Name") == "chat_messages":
        read += int(plan.get("Actual Rows", 0)) + int(plan.get("Rows Removed by Filter", 0))
        read += int(plan.get("Rows Removed by Index Recheck", 0))
    return read + sum(_chat_message_rows_read(child) for child in plan.get("Plans", []))


async def test_the_room_keeps_its_newest_seq(studio: ChatStudio, owner_db: Owner) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest, message="First")).json()
    for body in ("Second", "Third"):
        assert (await studio.say(guest, room["id"], body)).status_code == 201
    assert (await studio.say(studio.instructor, room["id"], "An answer")).status_code == 201
    newest, kept = owner_db.rows(
        "SELECT (SELECT max(seq) FROM chat_messages WHERE room_id = r.id), r.last_seq "
        "FROM chat_rooms r WHERE r.id = %s",
        uuid.UUID(room["id"]),
    )[0]
    assert kept == newest
    assert owner_db.value("SELECT count(*) FROM chat_messages") == 4


async def test_the_sending_limit_reads_only_the_last_minute(
    studio: ChatStudio, owner_db: Owner, owner_conninfo: str
) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest, message="Hello")).json()
    tenant_id, guest_id = owner_db.rows(
        "SELECT tenant_id, opened_by_guest_id FROM chat_rooms WHERE id = %s",
        uuid.UUID(room["id"]),
    )[0]
    who = Participant("guest", guest_id, tenant_id, "Thabo")
    statement = service.sent_since(who, datetime.now(UTC) - timedelta(minutes=1), 30)
    query = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    with psycopg.connect(owner_conninfo) as conn:
        # An old conversation in the room: thousands of the guest's messages, an hour ago.
        conn.execute(
            "INSERT INTO chat_messages (tenant_id, room_id, sender_guest_id, sender_name, body,"
            " created_at) SELECT %s, %s, %s, 'Thabo', 'old ' || i, now() - interval '1 hour'"
            " FROM generate_series(1, %s) i",
            (tenant_id, uuid.UUID(room["id"]), guest_id, OLD_MESSAGES),
        )
        conn.execute("ANALYZE chat_messages")
        conn.execute("SET LOCAL ROLE studioloop_app")
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
        (count,) = conn.execute(query).fetchone()  # type: ignore[misc]
        assert count == 1  # the message that opened the room
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}").fetchone()  # type: ignore[misc]
        conn.rollback()
    assert _chat_message_rows_read(plan[0]["Plan"]) < 10, plan


async def test_concurrent_messages_announce_an_unbroken_chain(
    studio: ChatStudio, owner_db: Owner
) -> None:
    """Messages sent at once into one room commit in seq order and each event names the one
    before it: what the room's lock is for, now taken in the same statement that stores the
    message (chat/repository.py; without FOR UPDATE there, this test fails at the chain).
    A listener sees the chain whole; each sender's read marker is at their newest message;
    staff replying do not reopen a closed ticket, the guest does."""
    guest = await studio.guest()
    room = (await studio.open(guest, message="Hello")).json()
    senders = [guest, studio.instructor, studio.owner]
    with psycopg.connect(owner_db.conninfo, autocommit=True) as listener:
        listener.execute("LISTEN studioloop_chat")
        sent = await asyncio.gather(
            *(studio.say(senders[n % 3], room["id"], f"Message {n}") for n in range(12))
        )
        assert all(response.status_code == 201 for response in sent), [r.text for r in sent]
        events = []
        for notice in listener.notifies(timeout=5):
            event = json.loads(notice.payload)
            if event["r"] == room["id"] and event["k"] == "message":
                events.append(event)
            if len(events) == 12:
                break
    assert len(events) == 12
    for before, after in itertools.pairwise(events):
        assert after["p"] == before["s"] and after["s"] > before["s"]
    room_id = uuid.UUID(room["id"])
    assert owner_db.value("SELECT last_seq FROM chat_rooms WHERE id = %s", room_id) == max(
        event["s"] for event in events
    )
    markers = dict(
        owner_db.rows(
            "SELECT reader, last_read_seq FROM chat_read_markers WHERE room_id = %s", room_id
        )
    )
    for message in (response.json() for response in sent):
        if message["sender_guest_id"]:
            reader = f"guest:{message['sender_guest_id']}"
        else:
            reader = f"user:{message['sender_user_id']}"
        assert markers[reader] >= message["seq"]

    def status() -> str:
        return str(owner_db.value("SELECT status FROM chat_rooms WHERE id = %s", room_id))

    owner_db.rows("UPDATE chat_rooms SET status = 'closed' WHERE id = %s", room_id)
    assert (await studio.say(studio.instructor, room["id"], "Closing note")).status_code == 201
    assert status() == "closed"
    assert (await studio.say(guest, room["id"], "One more thing")).status_code == 201
    assert status() == "open"
