"""Pure ASGI middleware: request ids, error of last resort, body size, security headers, metrics.

Written as raw ASGI (not BaseHTTPMiddleware) so streaming responses and WebSockets pass
through untouched and no task is spawned per request.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studioloop.core.context import request_id_var
from studioloop.core.error_handlers import database_unavailable, unavailable_response
from studioloop.core.error_reporting import report_exception
from studioloop.core.metrics import REQUEST_COUNT, REQUEST_LATENCY

SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID if sane), logs and metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        started_response = False

        async def tracking_send(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if scope["type"] == "http" and not started_response and database_unavailable(error):
                # Raised outside the routes (a middleware's own query): still a 503.
                status_holder["status"] = 503
                await unavailable_response(None, error)(scope, receive, tracking_send)
                return
            # Last resort for bugs: log with the request id and answer with the envelope
            # (Starlette's own handler sits outside this middleware and would lose both).
            structlog.get_logger("studioloop.errors").exception(
                "unhandled error", path=scope.get("path")
            )
            if scope["type"] != "http" or started_response:
                raise
            report_exception(error)  # answered here, so error reporting would not see it
            status_holder["status"] = 500
            await send_json(
                tracking_send,
                500,
                {
                    "error": {
                        "code": "INTERNAL_ERROR",
                        "message": "Something went wrong on our side; it was logged.",
                        "request_id": request_id,
                        "details": {},
                    }
                },
            )
        finally:
            if scope["type"] == "http":
                self._observe(scope, status_holder["status"], time.perf_counter() - started)
            request_id_var.reset(token)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        # The route template, never the raw path: raw paths would explode label cardinality.
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "GET")
        REQUEST_COUNT.labels(method=method, route=template, status=str(status)).inc()
        REQUEST_LATENCY.labels(method=method, route=template).observe(seconds)
        state: MutableMapping[str, Any] = scope.get("state", {})
        log = structlog.get_logger("studioloop.access")
        fields: dict[str, Any] = {
            "method": method,
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        if state.get("tenant_id"):
            fields["tenant_id"] = str(state["tenant_id"])
        if state.get("user_id"):
            fields["user_id"] = str(state["user_id"])
        log.info("request", **fields)


class BodySizeLimitMiddleware:
    """Refuses request bodies over the limit, whether announced or streamed.

    Starlette's own limiter (FastAPI's `max_body_size`) answers oversized requests with a
    plain-text body that replaces ours; this one keeps the error envelope.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: tuple[re.Pattern[str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths allowed a larger body (photo uploads), and their limit.
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if self.larger is not None and self.larger[0].match(scope.get("path", "")):
            limit = self.larger[1]
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, _too_large(limit))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body parsing unchanged and
                    # reaches the error handlers, which answer with the envelope.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


class StorableTextMiddleware:
    """Refuses JSON bodies whose text PostgreSQL cannot store: a NUL character or half of a
    surrogate pair, both only writable as `\\u` escapes (raw, they are already invalid JSON
    or invalid UTF-8). Caught here, once, they are a 422 before any work is done; caught
    later, they surfaced as whatever the first place to store them raised (a job's JSON
    arguments, the driver's encoder). Only bodies with a `\\u` escape are parsed twice."""

    def __init__(self, app: ASGIApp, checked_item_by_item: frozenset[str] = frozenset()) -> None:
        self.app = app
        # Paths whose endpoint refuses unstorable text in each item of a batch on its own
        # (one bad item must not sink the others): not refused whole here.
        self.checked_item_by_item = checked_item_by_item

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = _header(scope, b"content-type") or ""
        if (
            scope["type"] != "http"
            or "json" not in content_type
            or scope["path"] in self.checked_item_by_item
        ):
            await self.app(scope, receive, send)
            return
        seen = b""

        async def checking_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += message.get("body", b"")
                if not message.get("more_body", False) and b"\\u" in seen:
                    _refuse_unstorable(seen)
            return message

        await self.app(scope, checking_receive, send)


def _refuse_unstorable(body: bytes) -> None:
    try:
        document = json.loads(body)
    except ValueError:
        return  # malformed JSON is the body parser's to report
    problem = _unstorable_at(document, [])
    if problem is not None:
        raise UnstorableText(problem)


def _unstorable_at(value: Any, path: list[str]) -> list[str] | None:
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and _unstorable_at(key, []) is not None:
            return [*path, key]
        found = _unstorable_at(item, [*path, str(key)])
        if found is not None:
            return found
    return None


class UnstorableText(StarletteHTTPException):
    def __init__(self, path: list[str]) -> None:
        field = ".".join(path) or "body"
        super().__init__(422, f"Invalid fields: {field}.")
        self.details = {
            "fields": [
                {
                    "field": field,
                    "location": "body",
                    "message": "Text must not contain NUL characters or unpaired surrogates.",
                    "type": "string_unstorable",
                }
            ]
        }


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes)["error"]["message"])
        self.max_bytes = max_bytes


def _too_large(max_bytes: int) -> dict[str, Any]:
    return {
        "error": {
            "code": "PAYLOAD_TOO_LARGE",
            "message": f"The request body is larger than {max_bytes} bytes.",
            "request_id": request_id_var.get(),
            "details": {"max_bytes": max_bytes},
        }
    }


async def send_json(
    send: Send,
    status: int,
    payload: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A JSON answer sent by a raw ASGI middleware, before or instead of the app."""
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", b"DENY"),
        (b"permissions-policy", b"camera=(self), microphone=(), geolocation=(self)"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    # Pages use only our own scripts and styles (no CDN), so 'self' is enough.
    CSP = (
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend(h for h in self.HEADERS if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.CSP))
                if self.hsts:
                    headers.append(
                        (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
