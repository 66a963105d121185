"""Rooms and messages. Every change is stored first, then announced to the other api
processes (`fanout`), inside the same transaction: a message nobody stored is never shown,
and one that was stored is always announced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from studioloop.accounts.models import User, UserTenantRole
from studioloop.booking.models import Booking
from studioloop.chat import exceptions as exc, fanout, repository
from studioloop.chat.identity import Participant
from studioloop.chat.models import ChatGuest, ChatMessage, ChatReadMarker, ChatRoom
from studioloop.config import Settings, get_settings
from studioloop.notifications import service as notifications
from studioloop.payments.models import Payment
from studioloop.storage.service import get_storage
from studioloop.tenants.models import Tenant

MAX_MESSAGE_CHARS = 4000
_MESSAGE_COLUMNS = tuple(column.key for column in ChatMessage.__table__.columns)


async def new_guest(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, email: str
) -> ChatGuest:
    guest = ChatGuest(tenant_id=tenant_id, name=name, email=email.strip().lower())
    session.add(guest)
    await session.flush()
    return guest


async def open_room(
    session: AsyncSession,
    who: Participant,
    *,
    kind: str,
    subject: str,
    about_kind: str | None = None,
    about_id: uuid.UUID | None = None,
) -> ChatRoom:
    """A new conversation; the studio's admins are emailed about a support request."""
    if (about_kind is None) != (about_id is None):
        raise exc.AboutInvalid("Give both about_kind and about_id, or neither.")
    if about_kind is not None and about_id is not None:
        await _check_about(session, who, about_kind, about_id)
    room = ChatRoom(
        tenant_id=who.tenant_id,
        kind=kind,
        subject=subject,
        opened_by_user_id=who.id if who.kind == "user" else None,
        opened_by_guest_id=who.id if who.kind == "guest" else None,
        about_kind=about_kind,
        about_id=about_id,
    )
    session.add(room)
    await session.flush()
    if kind == "support":
        await _tell_admins(session, who, room)
    await fanout.publish(session, who.tenant_id, room.id, {"k": "room", "status": room.status})
    return room


async def _check_about(
    session: AsyncSession, who: Participant, kind: str, about_id: uuid.UUID
) -> None:
    """What a ticket is about must be this studio's (row-level security sees to that) and,
    unless staff link it, the member's own; guests link nothing."""
    if who.kind == "guest":
        raise exc.AboutInvalid("Guests cannot link a ticket to a record.")
    if kind == "member":
        owner = await session.scalar(
            select(UserTenantRole.user_id).where(
                UserTenantRole.tenant_id == who.tenant_id, UserTenantRole.user_id == about_id
            )
        )
    elif kind == "booking":
        owner = await session.scalar(select(Booking.user_id).where(Booking.id == about_id))
    else:
        owner = await session.scalar(select(Payment.user_id).where(Payment.id == about_id))
    if owner is None or (not who.is_staff and owner != who.id):
        raise exc.AboutInvalid(details={"about_kind": kind, "about_id": str(about_id)})


async def _tell_admins(session: AsyncSession, who: Participant, room: ChatRoom) -> None:
    admins = await session.execute(
        select(User.id, User.first_name)
        .join(UserTenantRole, UserTenantRole.user_id == User.id)
        .where(
            UserTenantRole.tenant_id == room.tenant_id,
            UserTenantRole.role.in_(("owner", "admin")),
            UserTenantRole.status == "active",
        )
    )
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == room.tenant_id))
    for admin_id, first_name in list(admins):
        await notifications.notify(
            session,
            "support_request",
            tenant_id=room.tenant_id,
            user_id=admin_id,
            dedup_key=f"support_request:{room.id}:{admin_id}",
            link=f"/s/{slug}/staff/inbox?room={room.id}",
            context={
                "first_name": first_name,
                "from_name": who.name,
                "subject": room.subject,
                "room_id": str(room.id),
            },
        )


async def room_for(session: AsyncSession, who: Participant, room_id: uuid.UUID) -> ChatRoom:
    """The room, if this participant may see it: staff see every room of their studio;
    guests and members only the ones they opened."""
    room = await session.get(ChatRoom, room_id)
    if room is None or room.tenant_id != who.tenant_id:
        raise exc.RoomNotFound()
    if who.is_staff:
        return room
    mine = room.opened_by_guest_id if who.kind == "guest" else room.opened_by_user_id
    if mine != who.id:
        raise exc.RoomNotFound()
    return room


# What the website widget promises a visitor (the studio's `chat_reply_time` setting).
REPLY_TIMES = {
    "minutes": "in a few minutes",
    "hour": "within an hour",
    "hours": "within a few hours",
    "day": "within a day",
}
DEFAULT_REPLY_TIME = "hours"


def reply_time(settings: dict[str, Any] | None) -> str:
    """The studio's usual reply time, in words, for the widget's greeting."""
    chosen = (settings or {}).get("chat_reply_time")
    return REPLY_TIMES.get(
        chosen if isinstance(chosen, str) else "", REPLY_TIMES[DEFAULT_REPLY_TIME]
    )


async def openers(
    session: AsyncSession, rooms: list[ChatRoom]
) -> dict[uuid.UUID, tuple[str, str, str]]:
    """Who opened each room, for the staff answering it: (name, email, "guest" or
    "member"), by room id. Two statements whatever the number of rooms."""
    guest_ids = {r.opened_by_guest_id for r in rooms if r.opened_by_guest_id}
    user_ids = {r.opened_by_user_id for r in rooms if r.opened_by_user_id}
    guests = {
        g.id: (g.name, g.email)
        for g in (
            await session.scalars(select(ChatGuest).where(ChatGuest.id.in_(guest_ids)))
            if guest_ids
            else []
        )
    }
    users = {
        u.id: (f"{u.first_name} {u.last_name}".strip(), u.email)
        for u in (
            await session.scalars(select(User).where(User.id.in_(user_ids))) if user_ids else []
        )
    }
    found: dict[uuid.UUID, tuple[str, str, str]] = {}
    for room in rooms:
        if room.opened_by_guest_id in guests:
            found[room.id] = (*guests[room.opened_by_guest_id], "guest")
        elif room.opened_by_user_id in users:
            found[room.id] = (*users[room.opened_by_user_id], "member")
    return found


async def list_rooms(
    session: AsyncSession, who: Participant, *, status: str | None, limit: int = 50
) -> list[tuple[ChatRoom, int]]:
    """Rooms newest activity first, each with how many messages this reader has not read."""
    # The reader's marker is joined to each room, so the count below correlates with the
    # room's row. (As a second nested subquery it correlated with nothing and returned
    # every room's marker: a reader with two conversations broke the inbox.)
    unread = (
        select(func.count())
        .select_from(ChatMessage)
        .where(
            ChatMessage.room_id == ChatRoom.id,
            ChatMessage.seq > func.coalesce(ChatReadMarker.last_read_seq, 0),
        )
        .correlate(ChatRoom, ChatReadMarker)
        .scalar_subquery()
    )
    query = select(ChatRoom, unread).outerjoin(
        ChatReadMarker,
        and_(ChatReadMarker.room_id == ChatRoom.id, ChatReadMarker.reader == who.reader),
    )
    if not who.is_staff:
        column = ChatRoom.opened_by_guest_id if who.kind == "guest" else ChatRoom.opened_by_user_id
        query = query.where(column == who.id)
    if status:
        query = query.where(ChatRoom.status == status)
    rows = await session.execute(
        query.order_by(
            ChatRoom.last_message_at.desc().nulls_last(), ChatRoom.created_at.desc()
        ).limit(limit)
    )
    return [(room, int(count)) for room, count in rows]


async def post(
    session: AsyncSession,
    who: Participant,
    room: ChatRoom,
    body: str,
    attachment: dict[str, Any] | None = None,
) -> ChatMessage:
    body = body.strip()
    if not body:
        raise exc.MessageTooLong("A message needs some text.", code="MESSAGE_EMPTY")
    if len(body) > MAX_MESSAGE_CHARS:
        raise exc.MessageTooLong(details={"max_chars": MAX_MESSAGE_CHARS})
    per_minute = get_settings().chat_messages_per_minute
    if await _sent_last_minute(session, who, up_to=per_minute) >= per_minute:
        raise exc.SendingTooFast(details={"per_minute": per_minute})
    if who.is_staff:
        # Before the room's lock (below), which is held until commit: this work does not
        # need the message's seq.
        await _tell_opener(session, room, body, sender=who.id)
    # One message at a time per room, until commit: the room's messages then commit in
    # the order of their sequence numbers, and each event can name the message before it,
    # so a socket knows whether it has everything up to there (see router._forward).
    # Lock, message, the room's newest seq and the sender's read marker go in one round
    # trip (repository.py says why); after it, only the announcements and the commit.
    row = await repository.store_message(
        session,
        room_id=room.id,
        reader=who.reader,
        sender_user_id=who.id if who.kind == "user" else None,
        sender_guest_id=who.id if who.kind == "guest" else None,
        sender_name=who.name,
        is_staff=who.is_staff,
        body=body,
        attachment=attachment,
    )
    if row is None:
        raise exc.RoomNotFound()
    # The room's row changed in the database, not through the ORM: the loaded object is
    # told what is now stored, without marking it changed.
    set_committed_value(room, "last_seq", row.seq)
    set_committed_value(room, "last_message_at", row.room_last_message_at)
    set_committed_value(room, "status", row.room_status)
    message = ChatMessage(**{column: getattr(row, column) for column in _MESSAGE_COLUMNS})
    # The sender's receipt first, then the message, in the order they always went.
    await fanout.publish(session, room.tenant_id, room.id, _read_event(who, row.seq))
    await fanout.publish(
        session, room.tenant_id, room.id, {"k": "message", "s": row.seq, "p": row.previous_seq}
    )
    return message


async def _sent_last_minute(session: AsyncSession, who: Participant, *, up_to: int) -> int:
    """How many messages this guest or user sent in the last minute, counted up to `up_to`
    (the limit: more need not be counted)."""
    return int(
        await session.scalar(sent_since(who, datetime.now(UTC) - timedelta(minutes=1), up_to)) or 0
    )


def sent_since(who: Participant, since: datetime, up_to: int) -> Select[int]:
    """The count of what `who` sent after `since`, up to `up_to`. It reads the sender's
    (sender, created_at) index: its cost is the messages counted, not the studio's."""
    sender = ChatMessage.sender_guest_id if who.kind == "guest" else ChatMessage.sender_user_id
    recent = (
        select(ChatMessage.id)
        .where(sender == who.id, ChatMessage.created_at > since)
        .limit(up_to)
        .subquery()
    )
    return select(func.count()).select_from(recent)


async def _tell_opener(
    session: AsyncSession, room: ChatRoom, reply: str, *, sender: uuid.UUID
) -> None:
    """The studio answered: the person who asked hears by email (or their channel), at
    most once an hour per conversation, in case they closed the page."""
    studio = await session.scalar(select(Tenant.name).where(Tenant.id == room.tenant_id))
    hour = datetime.now(UTC).strftime("%Y%m%d%H")
    context = {"studio_name": studio, "subject": room.subject, "reply": reply}
    if room.opened_by_guest_id is not None:
        guest = await session.get(ChatGuest, room.opened_by_guest_id)
        if guest is None:
            return
        await notifications.notify(
            session,
            "support_reply",
            tenant_id=room.tenant_id,
            email=guest.email,
            dedup_key=f"support_reply:{room.id}:{hour}",
            context={**context, "first_name": guest.name},
        )
    elif room.opened_by_user_id is not None:
        opener = await session.get(User, room.opened_by_user_id)
        if opener is None or opener.id == sender:
            return
        await notifications.notify(
            session,
            "support_reply",
            tenant_id=room.tenant_id,
            user_id=opener.id,
            dedup_key=f"support_reply:{room.id}:{hour}",
            context={**context, "first_name": opener.first_name},
        )


async def messages(
    session: AsyncSession,
    room: ChatRoom,
    *,
    after: int = 0,
    before: int | None = None,
    limit: int = 50,
) -> list[ChatMessage]:
    """Messages after `after` (a reconnecting client's last seen seq), oldest first; or
    with `before`, the page of older ones just before it."""
    query = select(ChatMessage).where(ChatMessage.room_id == room.id)
    if before is not None:
        older = await session.scalars(
            query.where(ChatMessage.seq < before).order_by(ChatMessage.seq.desc()).limit(limit)
        )
        return list(reversed(list(older)))
    rows = await session.scalars(
        query.where(ChatMessage.seq > after).order_by(ChatMessage.seq).limit(limit)
    )
    return list(rows)


async def mark_read(session: AsyncSession, who: Participant, room: ChatRoom, seq: int) -> None:
    await session.execute(
        insert(ChatReadMarker)
        .values(tenant_id=room.tenant_id, room_id=room.id, reader=who.reader, last_read_seq=seq)
        .on_conflict_do_update(
            index_elements=["tenant_id", "room_id", "reader"],
            set_={"last_read_seq": func.greatest(ChatReadMarker.last_read_seq, seq)},
        )
    )
    await fanout.publish(session, room.tenant_id, room.id, _read_event(who, seq))


def _read_event(who: Participant, seq: int) -> dict[str, Any]:
    return {"k": "read", "who": who.name, "reader": who.reader, "s": seq}


async def update_room(
    session: AsyncSession,
    who: Participant,
    room: ChatRoom,
    changes: dict[str, Any],
) -> ChatRoom:
    if not who.is_staff:
        raise exc.StaffOnly()
    if "assignee_user_id" in changes and changes["assignee_user_id"] is not None:
        staff = await session.scalar(
            select(UserTenantRole.role).where(
                and_(
                    UserTenantRole.tenant_id == room.tenant_id,
                    UserTenantRole.user_id == changes["assignee_user_id"],
                    UserTenantRole.role.in_(("owner", "admin", "instructor")),
                )
            )
        )
        if staff is None:
            raise exc.StaffOnly("The assignee must be one of the studio's staff.", code="NOT_STAFF")
    for name, value in changes.items():
        setattr(room, name, value)
    await session.flush()
    await session.refresh(room)
    await fanout.publish(session, room.tenant_id, room.id, {"k": "room", "status": room.status})
    return room


async def typing(session: AsyncSession, who: Participant, room: ChatRoom) -> None:
    await fanout.publish(session, room.tenant_id, room.id, {"k": "typing", "who": who.name})


async def unread_total(session: AsyncSession, who: Participant) -> int:
    rows = await list_rooms(session, who, status=None, limit=500)
    return sum(count for _, count in rows)


# What may be attached, recognised by the file's first bytes rather than its name or the
# browser's word for it.
ATTACHMENT_KINDS = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"%PDF-", "application/pdf", "pdf"),
)
MAX_ATTACHMENT_BYTES = 900 * 1024  # under the 1 MB request limit, with room for the form


def _kind_of(data: bytes) -> tuple[str, str] | None:
    for magic, content_type, extension in ATTACHMENT_KINDS:
        if data.startswith(magic):
            return content_type, extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


async def attach(
    session: AsyncSession,
    settings: Settings,
    who: Participant,
    room: ChatRoom,
    filename: str,
    data: bytes,
) -> ChatMessage:
    """A message carrying a file: an image (PNG, JPEG, WebP) or a PDF, under 900 kB."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise exc.AttachmentRefused(
            "Files can be at most 900 kB.",
            code="ATTACHMENT_TOO_LARGE",
            details={"max_bytes": MAX_ATTACHMENT_BYTES},
        )
    kind = _kind_of(data)
    if kind is None:
        raise exc.AttachmentRefused(details={"allowed": ["png", "jpeg", "webp", "pdf"]})
    content_type, extension = kind
    name = "".join(c for c in filename if c.isprintable() and c not in '/\\"')[:120] or "file"
    key = f"chat/{room.tenant_id}/{room.id}/{uuid.uuid4()}.{extension}"
    await get_storage(settings).put(key, data, content_type)
    return await post(
        session,
        who,
        room,
        name,
        attachment={
            "attachment_key": key,
            "attachment_name": name,
            "attachment_type": content_type,
            "attachment_size": len(data),
        },
    )


async def attachment(
    session: AsyncSession, settings: Settings, room: ChatRoom, message_id: uuid.UUID
) -> tuple[ChatMessage, bytes]:
    message = await session.get(ChatMessage, message_id)
    if message is None or message.room_id != room.id or message.attachment_key is None:
        raise exc.RoomNotFound("There is no such file in this conversation.", code="FILE_NOT_FOUND")
    data = await get_storage(settings).get(message.attachment_key)
    if data is None:
        raise exc.RoomNotFound("The file is no longer stored.", code="FILE_NOT_FOUND")
    return message, data
