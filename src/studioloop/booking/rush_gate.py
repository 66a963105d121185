"""The rush gate: `POST /api/v1/bookings` for a class that is full, answered at the door.

When a popular class opens, hundreds of members press "Book" in the same second and all
but the first few must hear CLASS_FULL. Measured, routing, dependency injection and the
request's session cost more than half of each such answer (docs/benchmarks.md), so a rush
queued behind itself for seconds. This ASGI middleware sits just outside FastAPI, inside
the request-id, body-limit and security-header middleware (so the answer carries all of
those, and is logged and counted like any other). For a class this process has just seen
full (booking/sold_out.py) it reads the one booking statement and, when the booking would
answer CLASS_FULL, answers that itself.

It answers nothing else. Every request it cannot answer exactly as the endpoint would
goes on to FastAPI untouched, with its body replayed: another path, another method, a
studio named by header or host, an Idempotency-Key (a retry must get its first answer),
`join_waitlist` or `credits_to_use`, a body that is not the plain JSON object (or not sent
as JSON), a missing,
expired or forged token, a class not marked full. The rate limit counts the request first,
as for every API call.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studioloop.booking import sold_out
from studioloop.core import security
from studioloop.core.error_handlers import handle_app_error, handle_http_exception
from studioloop.core.errors import AppError
from studioloop.core.openapi import API_PREFIX
from studioloop.core.ratelimit import caller_identity, enforce_global_limit
from studioloop.tenants.dependencies import lookup_key

BOOKINGS_PATH = f"{API_PREFIX}/bookings"
BODY_KEYS = frozenset({"class_schedule_id", "join_waitlist"})
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class _Route:
    """What the access log and the metrics read of a matched route: its template."""

    path = BOOKINGS_PATH


class RushGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != BOOKINGS_PATH
            or not sold_out.any_remembered()
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            body, replay = await _read_body(receive)
        except StarletteHTTPException as too_large:  # streamed past the body limit
            response = await handle_http_exception(request, too_large)
            await response(scope, receive, send)
            return
        request = Request(scope, replay)
        try:
            await _refuse_if_full(request, body)
        except AppError as refusal:  # CLASS_FULL, or RATE_LIMITED
            scope["route"] = _Route()
            response = await handle_app_error(request, refusal)
            await response(scope, replay, send)
            return
        await self.app(scope, replay, send)


async def _refuse_if_full(request: Request, body: bytes) -> None:
    """Raise CLASS_FULL when that is what the endpoint would answer; return otherwise."""
    if not _is_json(request.headers.get("content-type", "")):
        return  # FastAPI reads only JSON bodies: anything else is its 422
    occurrence_id = _plain_booking(body)
    if occurrence_id is None or request.headers.get("idempotency-key"):
        return
    settings = request.app.state.settings
    if lookup_key(request, settings) is not None:
        return  # a studio in context: the endpoint confines the booking to it
    if not sold_out.seems_full(occurrence_id):
        return
    if not caller_identity(request, settings)[1]:
        return  # no valid token: the endpoint answers 401
    await enforce_global_limit(request)  # counted once: the endpoint will not count again
    claims: security.AccessClaims = request.state.verified_access_token[1]
    request.state.user_id = claims.user_id
    await sold_out.refuse_if_still_full(occurrence_id, claims.user_id)


def _is_json(content_type: str) -> bool:
    """The media types FastAPI parses as JSON: application/json and application/*+json."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _plain_booking(body: bytes) -> uuid.UUID | None:
    """The occurrence of a body that is exactly `{"class_schedule_id": ...}` (with
    `join_waitlist` false at most), the id written as the API documents it; None for
    anything else."""
    try:
        fields = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
        return None
    if not isinstance(fields, dict) or not fields.keys() <= BODY_KEYS:
        return None
    if fields.get("join_waitlist", False) is not False:
        return None
    value = fields.get("class_schedule_id")
    # Only the canonical form; other spellings go to the endpoint, whose validation
    # decides (uuid.UUID takes hyphens anywhere, which the API refuses with 422).
    if not isinstance(value, str) or not CANONICAL_UUID.fullmatch(value):
        return None
    return uuid.UUID(value)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (BodySizeLimitMiddleware, outside, bounds it), and a
    `receive` that hands it on unchanged to whoever reads the request next."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"", _replaying([message], receive)
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    first: Message = {"type": "http.request", "body": body, "more_body": False}
    return body, _replaying([first], receive)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
