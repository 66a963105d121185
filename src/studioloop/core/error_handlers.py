"""Turn every failure into the one error envelope.

`{"error": {"code", "message", "request_id", "details"}}`, or a readable page for browsers.
"""

from __future__ import annotations

from html import escape
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from studioloop.core.context import current_request_id
from studioloop.core.error_reporting import report_exception
from studioloop.core.errors import AppError
from studioloop.core.logging import get_logger

logger = get_logger(__name__)

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def wants_html(request: Request) -> bool:
    """A browser navigating a page (not the API) gets a readable page instead of JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def html_error(status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status} · StudioLoop</title>"
        '<link rel="stylesheet" href="/static/css/app.css"></head><body>'
        '<header class="topbar"><a class="brand" href="/">StudioLoop</a></header>'
        f'<main id="main"><section class="panel narrow"><h1>{escape(message)}</h1>'
        f'<p><a href="/">Back to the start</a> · reference {escape(current_request_id() or "")}'
        "</p></section></main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=headers)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The envelope itself; also answered by refusals whose changes are kept (a seat held
    for payment), which return it rather than raise."""
    return {
        "error": {
            "code": code,
            "message": message,
            "request_id": current_request_id(),
            "details": jsonable_encoder(details if details is not None else {}),
        }
    }


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(location[0]) if location else ""


async def handle_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if wants_html(request):
        return html_error(exc.status_code, exc.message, exc.headers)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if wants_html(request):
        # A page address with a malformed id names nothing: not found, as an unknown id
        # is. A malformed query value (a cursor, a date) is the link's fault: say which.
        if all(e.get("loc", ("body",))[0] == "path" for e in errors):
            return html_error(404, "There is nothing at this address.")
        names = ", ".join(sorted({_field_name(e.get("loc", ())) for e in errors}))
        return html_error(400, f"This link has a value we cannot read ({names}).")
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(
            400,
            "MALFORMED_JSON",
            "The request body is not valid JSON.",
            {"position": errors[0].get("ctx", {}).get("error")},
        )
    fields = [
        {
            "field": _field_name(e.get("loc", ())),
            "location": e.get("loc", ("body",))[0],
            "message": e.get("msg", "is invalid"),
            "type": e.get("type"),
        }
        for e in errors
    ]
    names = ", ".join(sorted({f["field"] for f in fields if f["field"]}))
    return error_response(
        422,
        "VALIDATION_ERROR",
        f"Invalid fields: {names}." if names else "The request is not valid.",
        {"fields": fields},
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    if exc.status_code == 404 and message == "Not Found":
        message = "There is nothing at this address."
    details: dict[str, Any] = {}
    if exc.status_code == 400 and message == "There was an error parsing the body":
        code, message = "MALFORMED_BODY", "The request body could not be read (not UTF-8 JSON?)."
    if exc.status_code == 413:
        details = {"max_bytes": getattr(exc, "max_bytes", None)}
    details = getattr(exc, "details", None) or details
    if wants_html(request):
        return html_error(exc.status_code, message, getattr(exc, "headers", None))
    return error_response(
        exc.status_code, code, message, details, headers=getattr(exc, "headers", None)
    )


# How long a client should wait before trying again while the database cannot be reached:
# a PostgreSQL restart or a failover takes a few seconds.
DATABASE_RETRY_AFTER_SECONDS = 2


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot serve right now, rather than that the request
    or our code is wrong: the server refuses connections or is starting or shutting down
    (psycopg's OperationalError, also for a session the server ended mid-request), the
    pool has no connection to give in time, or SQLAlchemy found the connection dead. The
    request may simply be repeated: its transaction did not commit, or, when the connection
    was lost during COMMIT itself, an Idempotency-Key makes the retry safe.
    (psycopg_pool's PoolTimeout is an OperationalError too.)"""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError)
    return isinstance(exc, psycopg.OperationalError | PoolTimeoutError)


def unavailable_response(request: Request | None, exc: BaseException) -> Response:
    """503 with Retry-After, logged as a warning (one line, no stack: while the database is
    away every request fails alike)."""
    cause = getattr(exc, "orig", None) or exc
    logger.warning(
        "database unavailable",
        path=request.url.path if request is not None else None,
        error=type(cause).__name__,
        reason=(str(cause).splitlines() or [""])[0][:300],
    )
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    message = "The database cannot be reached for a moment; try again shortly."
    if request is not None and wants_html(request):
        return html_error(503, message, headers)
    return error_response(
        503,
        "SERVICE_UNAVAILABLE",
        message,
        {"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS},
        headers,
    )


async def handle_database_unavailable(request: Request, exc: Exception) -> Response:
    return unavailable_response(request, exc)


async def handle_database_error(request: Request, exc: Exception) -> Response:
    """Input PostgreSQL refuses to store (a NUL character, an out-of-range number) is the
    client's mistake, not ours: 422 like any other invalid value. A database that cannot be
    reached is 503 (see `database_unavailable`). Anything else is a bug."""
    if database_unavailable(exc):
        return unavailable_response(request, exc)
    # The ORM wraps the driver's error; plain SQL on the driver (db.raw) raises it bare.
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, psycopg.DataError):
        return error_response(
            422,
            "VALIDATION_ERROR",
            "A value in the request cannot be stored (for example a NUL character in text).",
            {"reason": str(original).splitlines()[0]},
        )
    logger.exception("database error", path=request.url.path)
    report_exception(exc)
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side; it was logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(DBAPIError, handle_database_error)
    app.add_exception_handler(psycopg.DataError, handle_database_error)
    # Raised outside SQLAlchemy's wrapping: on the raw psycopg path (db/raw.py), and by the
    # pools themselves.
    app.add_exception_handler(psycopg.OperationalError, handle_database_unavailable)
    app.add_exception_handler(PoolTimeoutError, handle_database_unavailable)
