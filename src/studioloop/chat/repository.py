"""Chat's one hot statement: storing a message under its room's lock.

Messages to a room are stored one at a time, in the order of their sequence numbers (see
service.post), so the room's row stays locked from the moment a message takes it until the
request commits. Every round trip inside that window lengthens it, and on a busy process
each await also waits for the event loop to come back: with the lock, the message, the
room's update and the sender's read marker as four ORM statements, chat requests queued
on the room's lock holding pool connections (docs/benchmarks.md, "Soak"). Here they are one
statement, sent by psycopg on the request's own connection (db/raw.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

# `room` locks the row and reads the newest seq; the INSERT reads from `room`, so it runs
# once the lock is held and its identity value is drawn in lock order. The UPDATE and the
# read marker's upsert read the new message. (Locking a row and updating it in one
# statement is allowed; what PostgreSQL refuses is updating the same row twice.)
_STORE_MESSAGE = """
WITH room AS (
    SELECT id, tenant_id, last_seq FROM chat_rooms WHERE id = %(room_id)s FOR UPDATE
), message AS (
    INSERT INTO chat_messages (
        tenant_id, room_id, sender_user_id, sender_guest_id, sender_name, is_staff, body,
        attachment_key, attachment_name, attachment_type, attachment_size
    )
    SELECT room.tenant_id, room.id, %(sender_user_id)s, %(sender_guest_id)s,
        %(sender_name)s, %(is_staff)s, %(body)s, %(attachment_key)s, %(attachment_name)s,
        %(attachment_type)s, %(attachment_size)s
    FROM room
    RETURNING *
), touched AS (
    UPDATE chat_rooms
    SET last_seq = message.seq,
        last_message_at = clock_timestamp(),
        -- A guest or member writing again reopens a closed ticket; staff do not.
        status = CASE WHEN chat_rooms.status = 'closed' AND NOT %(is_staff)s
                      THEN 'open' ELSE chat_rooms.status END
    FROM message
    WHERE chat_rooms.id = message.room_id
    RETURNING chat_rooms.status, chat_rooms.last_message_at
), marker AS (
    INSERT INTO chat_read_markers (tenant_id, room_id, reader, last_read_seq)
    SELECT message.tenant_id, message.room_id, %(reader)s, message.seq FROM message
    ON CONFLICT (tenant_id, room_id, reader) DO UPDATE
    SET last_read_seq = greatest(chat_read_markers.last_read_seq, excluded.last_read_seq),
        updated_at = now()
)
SELECT message.*, room.last_seq AS previous_seq,
    touched.status AS room_status, touched.last_message_at AS room_last_message_at
FROM message, room, touched
"""


async def store_message(
    session: AsyncSession,
    *,
    room_id: uuid.UUID,
    reader: str,
    sender_user_id: uuid.UUID | None,
    sender_guest_id: uuid.UUID | None,
    sender_name: str,
    is_staff: bool,
    body: str,
    attachment: dict[str, Any] | None = None,
) -> Any:
    """Lock the room, store the message, move the room's newest seq and the sender's read
    marker to it: one round trip. The row has the message's columns plus `previous_seq`
    (the room's newest seq before it), `room_status` and `room_last_message_at`; None when
    the room is gone."""
    attachment = attachment or {}
    return await raw.fetch_one(
        session,
        _STORE_MESSAGE,
        {
            "room_id": room_id,
            "reader": reader,
            "sender_user_id": sender_user_id,
            "sender_guest_id": sender_guest_id,
            "sender_name": sender_name,
            "is_staff": is_staff,
            "body": body,
            "attachment_key": attachment.get("attachment_key"),
            "attachment_name": attachment.get("attachment_name"),
            "attachment_type": attachment.get("attachment_type"),
            "attachment_size": attachment.get("attachment_size"),
        },
    )
