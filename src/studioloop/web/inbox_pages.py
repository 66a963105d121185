"""The staff inbox: support conversations, replying, and setting a ticket's status. Works
without JavaScript; with it, the open conversation updates live over the chat WebSocket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.chat import service as chat
from studioloop.chat.identity import Participant
from studioloop.chat.router import attachment_response
from studioloop.core import security
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt
from studioloop.web.owner_pages import admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent / "static"
SOCKET_TOKEN_SECONDS = 3600


def _as_staff(user: User, tenant: TenantRef) -> Participant:
    return Participant("user", user.id, tenant.id, f"{user.first_name} {user.last_name}", True)


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    status: str | None,
    room_id: uuid.UUID | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    who = _as_staff(user, tenant)
    rooms = await chat.list_rooms(session, who, status=status)
    room = messages = None
    if room_id is not None:
        room = await chat.room_for(session, who, room_id)
        messages = await chat.messages(session, room, before=2**62, limit=100)
        if messages:
            await chat.mark_read(session, who, room, messages[-1].seq)
    settings = request.app.state.settings
    listed = [r for r, _ in rooms] + ([room] if room is not None else [])
    context: dict[str, Any] = {
        **await studio_context(session, tenant),
        "user": user,
        "rooms": rooms,
        "status": status or "",
        "room": room,
        "messages": messages or [],
        # Who wrote in: a website visitor's name and email, or a member's.
        "openers": await chat.openers(session, listed),
        "error": error,
        # The page's script opens the room's WebSocket with this (it cannot send cookies).
        "socket_token": security.create_access_token(
            settings, user.id, ttl_seconds=SOCKET_TOKEN_SECONDS
        ),
    }
    return render(request, "staff/inbox.html", context, status_code=status_code)


@router.get("/s/{slug}/staff/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    status: str | None = Query(default=None, pattern="^(open|pending|closed)$"),
    room: uuid.UUID | None = None,
) -> Response:
    user, refused = await admin_of(request, session, tenant, minimum="instructor")
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _page(request, session, tenant, user, status=status, room_id=room)


@router.post("/s/{slug}/staff/inbox/{room_id}", response_class=HTMLResponse)
async def reply(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    room_id: uuid.UUID,
    body: Annotated[str, Form(max_length=4000)] = "",
    status: Annotated[str, Form()] = "",
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    """Reply, or set the status (open, pending, closed), or both."""
    check_csrf(request, csrf)
    user, refused = await admin_of(request, session, tenant, minimum="instructor")
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    who = _as_staff(user, tenant)
    room = await chat.room_for(session, who, room_id)

    async def act() -> None:
        if body.strip():
            await chat.post(session, who, room, body)
        if status in ("open", "pending", "closed") and status != room.status:
            await chat.update_room(session, who, room, {"status": status})

    _done, problem = await attempt(session, act)
    if problem is not None:
        return await _page(
            request,
            session,
            tenant,
            user,
            status=None,
            room_id=room_id,
            error=problem.message,
            status_code=409,
        )
    return RedirectResponse(f"/s/{tenant.slug}/staff/inbox?room={room_id}", status_code=303)


@router.get("/s/{slug}/staff/inbox/{room_id}/files/{message_id}")
async def attachment_file(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    room_id: uuid.UUID,
    message_id: uuid.UUID,
) -> Response:
    """A file a member or visitor sent, for the staff reading the conversation."""
    user, refused = await admin_of(request, session, tenant, minimum="instructor")
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    room = await chat.room_for(session, _as_staff(user, tenant), room_id)
    message, data = await chat.attachment(session, request.app.state.settings, room, message_id)
    return attachment_response(message, data)


# The chat frame is meant to be embedded in studios' own websites: any page may frame it.
WIDGET_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors *; base-uri 'self'; form-action 'self'"
)


@router.get("/s/{slug}/chat", response_class=HTMLResponse)
async def widget_frame(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """What the website widget (`/widget/chat.js`) shows in its frame."""
    context = await studio_context(session, tenant)
    context["reply_time"] = chat.reply_time(context["studio"].settings)
    response = render(request, "widget_chat.html", context)
    response.headers["content-security-policy"] = WIDGET_CSP
    # Browsers obey frame-ancestors over X-Frame-Options; this only stops the default DENY.
    response.headers["x-frame-options"] = "ALLOWALL"
    return response


@router.get("/widget/chat.js")
async def widget_script() -> Response:
    """The one-tag embed (served from /widget so it may be cached and loaded anywhere)."""
    return FileResponse(
        STATIC / "widget" / "chat.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
