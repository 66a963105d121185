"""CSRF protection for HTML forms: a double-submit token.

A random token lives in an HTTP-only cookie and in each form's hidden field; a post is
accepted only when both match. A cross-site page can make the browser send the cookie but
cannot read it to fill the field.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import Response

from studioloop.core.errors import Forbidden
from studioloop.core.security import constant_time_equals

CSRF_COOKIE = "sl_csrf"
CSRF_FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The request's token: the cookie's value, or a new one the response must set."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    token: str | None = getattr(request.state, "new_csrf_token", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return token


def attach_csrf_cookie(request: Request, response: Response, secure: bool) -> None:
    token = getattr(request.state, "new_csrf_token", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, secure=secure, samesite="lax")


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not constant_time_equals(expected, submitted):
        raise Forbidden(
            "The form expired or came from another site; reload and try again.", code="CSRF_FAILED"
        )
