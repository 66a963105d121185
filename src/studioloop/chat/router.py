"""Support chat over HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect, status
from fastapi.encoders import jsonable_encoder
from starlette.datastructures import UploadFile

from studioloop.chat import service
from studioloop.chat.dependencies import ChatParticipant, participant_for
from studioloop.chat.fanout import ChatHub
from studioloop.chat.identity import GUEST_TOKEN_DAYS, Participant, guest_token
from studioloop.chat.schemas import (
    ChatRoomIn,
    ChatRoomOut,
    ChatRoomUpdate,
    GuestTokenIn,
    GuestTokenOut,
    MessageIn,
    MessageOut,
    MessagePage,
)
from studioloop.core.errors import AppError, field_error
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.engine import get_database
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX, tags=["chat"])
# Sockets are not rate-limited per request (their messages are, per sender, in `service`).
websocket_router = APIRouter(prefix=API_PREFIX)


def _room_out(room: Any, unread: int = 0) -> ChatRoomOut:
    return ChatRoomOut.model_validate(room).model_copy(update={"unread": unread})


async def guest_token_for(
    body: GuestTokenIn,
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    _: SensitiveRateLimit,
) -> GuestTokenOut:
    """A chat token for someone without an account (7 days), for this studio only.
    Limited like sign-in attempts per address, so it cannot be farmed."""
    guest = await service.new_guest(session, tenant.id, body.name, str(body.email))
    token = guest_token(request.app.state.settings, tenant.id, guest.id, body.name)
    return GuestTokenOut(token=token, guest_id=guest.id, expires_in_days=GUEST_TOKEN_DAYS)


async def open_room(body: ChatRoomIn, who: ChatParticipant, session: DbSession) -> ChatRoomOut:
    """Open a conversation (support, or direct between a member and staff); the studio's
    admins are emailed about a new support request."""
    room = await service.open_room(
        session,
        who,
        kind=body.kind,
        subject=body.subject,
        about_kind=body.about_kind,
        about_id=body.about_id,
    )
    if body.message:
        await service.post(session, who, room, body.message)
    return _room_out(room)


async def list_rooms(
    who: ChatParticipant,
    session: DbSession,
    status_filter: str | None = Query(
        default=None, alias="status", pattern="^(open|pending|closed)$"
    ),
) -> list[ChatRoomOut]:
    """Staff: the studio's inbox. Guests and members: their own conversations. Each with
    how many messages you have not read."""
    rows = await service.list_rooms(session, who, status=status_filter)
    return [_room_out(room, unread) for room, unread in rows]


async def update_chat_room(
    room_id: uuid.UUID, body: ChatRoomUpdate, who: ChatParticipant, session: DbSession
) -> ChatRoomOut:
    """Staff: set the status (open, pending, closed) or the assignee."""
    room = await service.room_for(session, who, room_id)
    room = await service.update_room(session, who, room, body.model_dump(exclude_unset=True))
    return _room_out(room)


async def room_messages(
    room_id: uuid.UUID,
    who: ChatParticipant,
    session: DbSession,
    before: int | None = Query(default=None, ge=1),
    after: int = Query(default=0, ge=0),
    limit: int = Query(default=50, ge=1, le=200),
) -> MessagePage:
    """History: newest page by default; `before` = next_cursor for older ones; `after` =
    the last seq you have, for what you missed."""
    room = await service.room_for(session, who, room_id)
    if before is None and after == 0:
        found = await service.messages(session, room, before=2**62, limit=limit)
    else:
        found = await service.messages(session, room, after=after, before=before, limit=limit)
    cursor = found[0].seq if len(found) == limit and after == 0 else None
    return MessagePage(items=[MessageOut.model_validate(m) for m in found], next_cursor=cursor)


async def send_message(
    room_id: uuid.UUID, body: MessageIn, who: ChatParticipant, session: DbSession
) -> MessageOut:
    room = await service.room_for(session, who, room_id)
    return MessageOut.model_validate(await service.post(session, who, room, body.body))


async def send_attachment(
    room_id: uuid.UUID, request: Request, who: ChatParticipant, session: DbSession
) -> MessageOut:
    """Send a file (form field `file`): an image (PNG, JPEG, WebP) or a PDF, up to 900 kB."""
    form = await request.form(max_files=1, max_fields=2)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise field_error("file", "attach one file in the form field `file`")
    data = await upload.read(service.MAX_ATTACHMENT_BYTES + 1)
    room = await service.room_for(session, who, room_id)
    message = await service.attach(
        session, request.app.state.settings, who, room, upload.filename or "file", data
    )
    return MessageOut.model_validate(message)


async def get_attachment(
    room_id: uuid.UUID,
    message_id: uuid.UUID,
    request: Request,
    who: ChatParticipant,
    session: DbSession,
) -> Response:
    room = await service.room_for(session, who, room_id)
    message, data = await service.attachment(session, request.app.state.settings, room, message_id)
    return attachment_response(message, data)


def attachment_response(message: Any, data: bytes) -> Response:
    """The file as a download; images may show inline. Never sniffed as HTML (nosniff is
    set for every response)."""
    disposition = "inline" if str(message.attachment_type).startswith("image/") else "attachment"
    name = quote(message.attachment_name or "file")
    return Response(
        data,
        media_type=message.attachment_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "Cache-Control": "private, max-age=3600",
        },
    )


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/chat/rooms/{{room_id}}/attachments",
        send_attachment,
        methods=["POST"],
        response_model=MessageOut,
        status_code=status.HTTP_201_CREATED,
        responses=errors(401, 404, 413, 422, 429),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms/{{room_id}}/attachments/{{message_id}}",
        get_attachment,
        methods=["GET"],
        response_class=Response,
        responses=errors(401, 404),
    )
    router.add_api_route(
        f"{prefix}/guest/token",
        guest_token_for,
        methods=["POST"],
        response_model=GuestTokenOut,
        status_code=status.HTTP_201_CREATED,
        responses=errors(400, 404, 422, 429),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms",
        open_room,
        methods=["POST"],
        response_model=ChatRoomOut,
        status_code=status.HTTP_201_CREATED,
        responses=errors(400, 401, 422),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms",
        list_rooms,
        methods=["GET"],
        response_model=list[ChatRoomOut],
        responses=errors(400, 401),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms/{{room_id}}",
        update_chat_room,
        methods=["PATCH"],
        response_model=ChatRoomOut,
        responses=errors(401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms/{{room_id}}/messages",
        room_messages,
        methods=["GET"],
        response_model=MessagePage,
        responses=errors(401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/chat/rooms/{{room_id}}/messages",
        send_message,
        methods=["POST"],
        response_model=MessageOut,
        status_code=status.HTTP_201_CREATED,
        responses=errors(401, 404, 422, 429),
    )


# --- WebSocket ------------------------------------------------------------------------------


@websocket_router.websocket("/chat/rooms/{room_id}/websocket")
async def room_socket(
    websocket: WebSocket,
    room_id: uuid.UUID,
    token: str = Query(default=""),
    tenant: str | None = Query(default=None, max_length=63),
    after: int = Query(default=0, ge=0),
) -> None:
    """Live messages. Authenticate with `?token=` (a guest token, or an access token and
    `&tenant=<slug>`); `&after=<seq>` sends what you missed first. Send
    `{"type": "message", "body": ...}`, `{"type": "typing"}` or `{"type": "read", "seq": n}`;
    receive `message`, `typing`, `read` and `room` events."""
    settings = websocket.app.state.settings
    database = get_database()
    try:
        async with database.sessionmaker() as session:
            who = await participant_for(session, settings, token, tenant)
            await service.room_for(session, who, room_id)
    except AppError as refusal:
        # Accepted first: a close before the handshake completes reaches the browser as
        # HTTP 403 with no code, and the widget needs 4401 to forget an expired token.
        await websocket.accept()
        await websocket.close(
            code=4401 if refusal.status_code == 401 else 4404, reason=refusal.code
        )
        return
    await websocket.accept()
    hub: ChatHub = websocket.app.state.chat_hub
    queue = hub.subscribe(room_id)
    sent = {"seq": after}
    try:
        await _send_missed(websocket, who, room_id, sent)
        reader = asyncio.create_task(_read_client(websocket, who, room_id))
        try:
            while not reader.done():
                event_task = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {event_task, reader}, return_when=asyncio.FIRST_COMPLETED
                )
                if event_task not in done:
                    event_task.cancel()
                    break
                await _forward(websocket, who, room_id, event_task.result(), sent)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(room_id, queue)


async def _in_room(who: Participant, room_id: uuid.UUID) -> Any:
    """A session with the studio's context and the room, for one piece of work."""
    session = get_database().sessionmaker()
    await enter_tenant_for_transaction(session, who.tenant_id)
    room = await service.room_for(session, who, room_id)
    return session, room


async def _send_missed(
    websocket: WebSocket, who: Participant, room_id: uuid.UUID, sent: dict[str, int]
) -> None:
    session, room = await _in_room(who, room_id)
    async with session:
        while True:
            batch = await service.messages(session, room, after=sent["seq"], limit=200)
            for message in batch:
                await websocket.send_json(
                    {
                        "type": "message",
                        "message": jsonable_encoder(MessageOut.model_validate(message)),
                    }
                )
                sent["seq"] = message.seq
            if len(batch) < 200:
                return


async def _forward(
    websocket: WebSocket,
    who: Participant,
    room_id: uuid.UUID,
    event: dict[str, Any],
    sent: dict[str, int],
) -> None:
    kind = event.get("k") or event.get("type")
    if kind == "message" and int(event.get("s", 0)) <= sent["seq"]:
        return
    if kind == "message" and event.get("message") and int(event.get("p", -1)) == sent["seq"]:
        await websocket.send_json({"type": "message", "message": event["message"]})
        sent["seq"] = int(event["s"])
    elif kind in ("message", "resync"):
        await _send_missed(websocket, who, room_id, sent)  # a gap: read what is missing
    elif kind == "typing" and event.get("who") != who.name:
        await websocket.send_json({"type": "typing", "who": event.get("who")})
    elif kind == "read" and event.get("reader") != who.reader:  # others' receipts only
        await websocket.send_json(
            {
                "type": "read",
                "who": event.get("who"),
                "reader": event.get("reader"),
                "seq": event.get("s"),
            }
        )
    elif kind == "room":
        await websocket.send_json({"type": "room", "status": event.get("status")})


async def _read_client(websocket: WebSocket, who: Participant, room_id: uuid.UUID) -> None:
    """What the client sends: each message stored in its own transaction."""
    while True:
        text = await websocket.receive_text()
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            await websocket.send_json(
                {"type": "error", "code": "BAD_FRAME", "message": "Send JSON objects."}
            )
            continue
        session, room = await _in_room(who, room_id)
        async with session:
            try:
                if frame.get("type") == "message":
                    await service.post(session, who, room, str(frame.get("body", "")))
                elif frame.get("type") == "typing":
                    await service.typing(session, who, room)
                elif frame.get("type") == "read" and isinstance(frame.get("seq"), int):
                    await service.mark_read(session, who, room, frame["seq"])
                await session.commit()
            except AppError as refusal:
                await session.rollback()
                await websocket.send_json(
                    {"type": "error", "code": refusal.code, "message": refusal.message}
                )
