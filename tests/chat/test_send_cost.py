"""Sending a message costs the same in a room of three messages and of thousands.

The soak benchmark (bench/soak.py) sends ~500 messages a minute into one support room. Two
reads of every send grew with what the room held: the sender's per-minute count (nothing
indexed the sender: it read the studio's every message) and the room's newest `seq`
(max(seq) over the room's messages). The room now keeps its newest `seq`; the count reads
the sender's index.
"""

from __future__ import annotations

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
