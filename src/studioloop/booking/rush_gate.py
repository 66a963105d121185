"""The rush gate: `POST /api/v1/bookings` for a class that is full, answered at the door.

When a popular class opens, hundreds of members press "Book" in the same second and all
but the first few must hear CLASS_FULL. Through the booking transaction every such answer
costs a pooled connection's check, BEGIN, the booking's read and ROLLBACK, and routing,
dependency injection and the request's session around them: measured, more than half of
each answer (docs/benchmarks.md), so a rush queued behind itself for seconds.

So a process remembers, for a moment, which classes it has just seen full. This ASGI
middleware sits just outside FastAPI, inside the request-id, body-limit and
security-header middleware (so the answer carries all of those, and is logged and counted
like any other). For a class remembered full it reads the booking's own read
(`booking_attempt`) once, in autocommit, asks the booking decision
(`eligibility.decide`), and answers only when the decision is CLASS_FULL. Anything else
(a seat freed meanwhile, the member's own booking, a cancelled class, a closed account)
goes the usual way, through the transaction, which decides. No write ever depends on this
read, so the capacity guard is untouched; the memory only decides which path asks first,
and the answer cannot drift from the endpoint's because it is the same decision.

It answers nothing else. Every request it cannot answer exactly as the endpoint would
goes on to FastAPI untouched, with its body replayed: another path, another method, a
studio named by header or host, an Idempotency-Key (a retry must get its first answer),
`join_waitlist` or `credits_to_use`, a body that is not the plain JSON object (or not sent
as JSON), a missing, expired or forged token, a class not remembered full. The rate limit
counts the request first, as for every API call.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import psycopg
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studioloop.booking import exceptions as exc, repository
from studioloop.booking.eligibility import Intent, decide, refusal_of
from studioloop.core import security
from studioloop.core.error_handlers import handle_app_error, handle_http_exception
from studioloop.core.errors import AppError
from studioloop.core.openapi import API_PREFIX
from studioloop.core.ratelimit import caller_identity, enforce_global_limit
from studioloop.tenants.dependencies import lookup_key

BOOKINGS_PATH = f"{API_PREFIX}/bookings"
BODY_KEYS = frozenset({"class_schedule_id", "join_waitlist"})
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


# --- what this process remembers full ------------------------------------------------------

# Long enough to cover a rush's burst, short enough that a seat freed by a cancellation in
# another process (which does not tell this one) is offered within a moment. The check
# below reads the live row anyway: a stale mark only costs one extra read.
REMEMBER_FULL_SECONDS = 2.0
_MAX_MARKS = 10_000

_full_until: dict[uuid.UUID, float] = {}
_last_until = 0.0  # the latest of them: once past, nothing is remembered any more


def remember_full(occurrence_id: uuid.UUID) -> None:
    global _last_until
    now = time.monotonic()
    if len(_full_until) >= _MAX_MARKS:
        for key in [k for k, until in _full_until.items() if until <= now]:
            del _full_until[key]
        if len(_full_until) >= _MAX_MARKS:
            _full_until.clear()
    _full_until[occurrence_id] = _last_until = now + REMEMBER_FULL_SECONDS


def forget(occurrence_id: uuid.UUID) -> None:
    _full_until.pop(occurrence_id, None)


def any_remembered() -> bool:
    """Whether any class is remembered full now: the gate's first, cheapest question, so
    that outside a rush a booking pays nothing for the gate."""
    if not _full_until:
        return False
    if time.monotonic() >= _last_until:
        _full_until.clear()
        return False
    return True


def seems_full(occurrence_id: uuid.UUID) -> bool:
    until = _full_until.get(occurrence_id)
    if until is None:
        return False
    if until <= time.monotonic():
        del _full_until[occurrence_id]  # so that, once a rush is over, the gate idles
        return False
    return True


async def refuse_if_still_full(occurrence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Raise CLASS_FULL when the booking decision, asked of the live row, says exactly
    that to this member for `POST /bookings` naming no studio; return when the booking
    must decide in its transaction."""
    try:
        attempt = await repository.read_attempt_outside_transaction(occurrence_id, user_id)
    except psycopg.Error:  # the pool's timeouts too; e.g. the database restarting
        return  # the booking's own transaction will answer (or report the outage)
    if attempt is None:
        return
    refusal = refusal_of(decide(attempt, Intent(), datetime.now(UTC)))
    if isinstance(refusal, exc.ClassFull):
        remember_full(occurrence_id)
        raise refusal
    if not attempt.facts.full:
        forget(occurrence_id)


# --- the gate -----------------------------------------------------------------------------


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
            or not any_remembered()
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
    if not seems_full(occurrence_id):
        return
    if not caller_identity(request, settings)[1]:
        return  # no valid token: the endpoint answers 401
    await enforce_global_limit(request)  # counted once: the endpoint will not count again
    claims: security.AccessClaims = request.state.verified_access_token[1]
    request.state.user_id = claims.user_id
    await refuse_if_still_full(occurrence_id, claims.user_id)


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
