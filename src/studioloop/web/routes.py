"""Server-rendered pages. They call domain services directly, never the HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from studioloop import __version__
from studioloop.accounts import invitations, service as accounts_service
from studioloop.accounts.exceptions import (
    AccountDisabled,
    AlreadyMember,
    EmailNotVerified,
    InvalidCredentials,
    InvitationExpired,
    InvitationNotFound,
)
from studioloop.accounts.schemas import InvitationPreview
from studioloop.core.errors import AppError, NotFound
from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.session import DbSession
from studioloop.notifications import service as notifications_service
from studioloop.tenants import service as tenants_service
from studioloop.web.csrf import CSRF_FIELD, attach_csrf_cookie, check_csrf, csrf_token
from studioloop.web.session import end_web_session, staff_home, start_web_session, web_user
from studioloop.web.static_files import static_url

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
ACRONYMS = {"hiit": "HIIT", "trx": "TRX", "emom": "EMOM", "amrap": "AMRAP"}


def kind_label(value: str) -> str:
    """A class type as people write it: "power-yoga" -> "Power yoga", "hiit" -> "HIIT"."""
    words = str(value).replace("-", " ").replace("_", " ").split()
    shown = [ACRONYMS.get(w.lower(), w.lower()) for w in words]
    if shown and shown[0].islower():
        shown[0] = shown[0].capitalize()
    return " ".join(shown)


def counted(number: int, noun: str) -> str:
    """ "1 credit", "2 credits"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def local_time(value: datetime | None, zone: str, pattern: str = "%d %b %H:%M") -> str:
    """A stored (UTC) time on the studio's wall clock, as its members live it."""
    return value.astimezone(ZoneInfo(zone)).strftime(pattern) if value else ""


templates.env.filters["kind"] = kind_label
templates.env.filters["counted"] = counted
templates.env.filters["local"] = local_time
templates.env.globals["static"] = static_url


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context = {
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "version": __version__,
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    attach_csrf_cookie(request, response, request.app.state.settings.cookies_secure)
    return response


def safe_next(target: str | None) -> str:
    # Only same-site paths: never let a link send a person off to another site after login.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: DbSession) -> Response:
    user = await web_user(request, session)
    studios = await tenants_service.list_marketplace_tenants(session, limit=24, cursor=None)
    return render(request, "home.html", {"user": user, "studios": studios.items})


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None, reset: int = 0) -> Response:
    context = {"next": safe_next(next), "email": "", "errors": {}, "reset": bool(reset)}
    return render(request, "login.html", context)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token_field)
    settings = request.app.state.settings
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105
    if not errors:
        try:
            user = await accounts_service.authenticate(session, settings, email, password)
        except (InvalidCredentials, EmailNotVerified, AccountDisabled) as error:
            errors["form"] = error.message
        else:
            target = safe_next(next)
            if target == "/":  # no page asked for: staff start at their studio
                target = await staff_home(session, user) or "/"
            response = RedirectResponse(target, status_code=303)
            start_web_session(response, settings, user)
            return response
    return render(
        request,
        "login.html",
        {"next": safe_next(next), "email": email, "errors": errors},
        status_code=400,
    )


@router.post("/logout")
async def logout(
    request: Request, csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None
) -> Response:
    check_csrf(request, csrf_token_field)
    response = RedirectResponse("/", status_code=303)
    end_web_session(response)
    return response


# --- invitations -------------------------------------------------------------------------


def _invite_page_url(token: str) -> str:
    return f"/accept-invite?token={quote(token, safe='')}"


async def _render_invitation(
    request: Request, session: DbSession, token: str, error: AppError | None = None
) -> Response:
    user = await web_user(request, session)
    invitation: InvitationPreview | None = None
    try:
        # Tokens are url-safe base64 of 32 bytes; anything far off that cannot be one.
        if not 10 <= len(token) <= 256:
            raise InvitationNotFound()
        invitation = await invitations.preview_invitation(session, token)
        if error is None and invitation.expired:
            raise InvitationExpired()
    except (InvitationNotFound, InvitationExpired) as problem:
        error = error or problem
    return render(
        request,
        "accept_invite.html",
        {
            "user": user,
            "invitation": invitation,
            "role_phrase": invitations.ROLE_PHRASES[invitation.role] if invitation else "",
            "problem": error.message if error else None,
            "token": token,
            "login_url": f"/login?next={quote(_invite_page_url(token), safe='')}",
        },
        status_code=error.status_code if error else 200,
    )


@router.get("/accept-invite", response_class=HTMLResponse)
async def accept_invite_page(
    request: Request, session: DbSession, token: Annotated[str, Query(max_length=512)] = ""
) -> Response:
    """Where the invitation email's link lands: which studio, which role, and a button."""
    return await _render_invitation(request, session, token)


@router.post("/accept-invite", response_class=HTMLResponse)
async def accept_invite_submit(
    request: Request,
    session: DbSession,
    token: Annotated[str, Form(max_length=512)] = "",
    csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, csrf_token_field)
    user = await web_user(request, session)
    if user is None:
        login = f"/login?next={quote(_invite_page_url(token), safe='')}"
        return RedirectResponse(login, status_code=303)
    try:
        if not 10 <= len(token) <= 256:
            raise InvitationNotFound()
        await invitations.accept_invitation(session, user, token)
    except (InvitationNotFound, InvitationExpired, AlreadyMember) as error:
        response = await _render_invitation(request, session, token, error)
        # The page is rendered; now make sure the refused attempt leaves nothing behind.
        await session.rollback()
        return response
    return RedirectResponse("/", status_code=303)


@router.get("/dev/outbox", response_class=HTMLResponse)
async def dev_outbox(request: Request, session: DbSession) -> Response:
    """Emails the platform recorded, so someone trying StudioLoop can read their codes."""
    if not request.app.state.settings.is_development:
        raise NotFound()
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse(f"/login?next={quote('/dev/outbox')}", status_code=303)
    if not user.is_platform_owner:
        return render(request, "dev/forbidden.html", {"user": user}, status_code=403)
    emails = await notifications_service.recent_messages(session)
    return render(request, "dev/outbox.html", {"user": user, "emails": emails})


@router.get("/dev/outbox/{email_id}", response_class=HTMLResponse)
async def dev_outbox_message(request: Request, email_id: uuid.UUID, session: DbSession) -> Response:
    if not request.app.state.settings.is_development:
        raise NotFound()
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse(f"/login?next={quote(f'/dev/outbox/{email_id}')}", status_code=303)
    if not user.is_platform_owner:
        return render(request, "dev/forbidden.html", {"user": user}, status_code=403)
    email = await notifications_service.get_message(session, email_id)
    if email is None:
        raise NotFound("No such message.")
    return render(request, "dev/message.html", {"user": user, "email": email})
