"""The signed-in person of a web page: an HTTP-only session cookie holding a signed token."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import service as accounts_service
from studioloop.accounts.models import User
from studioloop.config import Settings
from studioloop.core import security

SESSION_COOKIE = "sl_session"
# The roles that work at a studio, the most trusted first.
STAFF_RANK = {"owner": 0, "admin": 1, "instructor": 2}


def start_web_session(response: Response, settings: Settings, user: User) -> None:
    ttl = settings.web_session_ttl_hours * 3600
    token = security.create_access_token(settings, user.id, ttl_seconds=ttl)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        secure=settings.cookies_secure,
        samesite="lax",
    )


def end_web_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)


async def web_user(request: Request, session: AsyncSession) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = security.decode_access_token(request.app.state.settings, token)
    except security.InvalidToken:
        return None
    user = await accounts_service.get_active_user(session, claims.user_id)
    if user is not None:
        request.state.user_id = user.id
    return user


async def staff_home(session: AsyncSession, user: User) -> str | None:
    """Where a member of staff starts after signing in: the owner or an admin on their
    studio's dashboard, an instructor on their schedule (today's classes, the door). With
    several studios, the one where they are most trusted, then by name."""
    roles = [
        r
        for r in (await accounts_service.profile(session, user)).tenant_roles
        if r.role in STAFF_RANK and r.status == "active"
    ]
    if not roles:
        return None
    best = min(roles, key=lambda r: STAFF_RANK[r.role])
    if best.role == "instructor":
        return f"/s/{best.tenant_slug}/staff/schedule"
    return f"/s/{best.tenant_slug}/admin"
