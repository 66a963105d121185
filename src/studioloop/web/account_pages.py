"""Sign up (with the terms and privacy notice accepted), confirm the emailed code, reset a
forgotten password, and change it when signed in, as web forms."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import service as accounts
from studioloop.accounts.exceptions import TermsNotAccepted
from studioloop.accounts.schemas import PasswordChange, PasswordResetConfirm, RegisterRequest
from studioloop.core import security
from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.session import DbSession
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, parse
from studioloop.web.routes import render, safe_next
from studioloop.web.session import start_web_session, web_user

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, next: str | None = None) -> Response:
    return render(
        request, "account/signup.html", {"next": safe_next(next), "form": {}, "errors": {}}
    )


@router.post("/signup", response_class=HTMLResponse)
async def signup_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    csrf: Csrf = None,
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    accept_terms: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    form = {"first_name": first_name, "last_name": last_name, "email": email}
    data, errors = parse(RegisterRequest, {**form, "password": password, "accept_terms": True})
    if not accept_terms:
        data = None
        errors["accept_terms"] = TermsNotAccepted.message
    if data is not None:
        settings = request.app.state.settings
        _user, refused = await attempt(session, lambda: accounts.register(session, settings, data))
        if refused is None:
            target = f"/verify?email={quote(data.email)}&next={quote(safe_next(next))}"
            return RedirectResponse(target, status_code=303)
        errors["form"] = refused.message
    context = {"next": safe_next(next), "form": form, "errors": errors}
    return render(request, "account/signup.html", context, status_code=400)


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request, email: str = "", next: str | None = None) -> Response:
    context = {"email": email, "next": safe_next(next), "errors": {}, "resent": False}
    return render(request, "account/verify.html", context)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    csrf: Csrf = None,
    email: Annotated[str, Form(max_length=320)] = "",
    code: Annotated[str, Form(max_length=12)] = "",
    resend: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    settings = request.app.state.settings
    context = {"email": email, "next": safe_next(next), "errors": {}, "resent": False}
    if resend:
        await accounts.resend_verification(session, settings, email)
        return render(request, "account/verify.html", {**context, "resent": True})
    if not code.strip().isdigit():
        context["errors"] = {"code": "Enter the 6-digit code from the email."}
        return render(request, "account/verify.html", context, status_code=400)
    tokens, refused = await attempt(
        session, lambda: accounts.verify_email(session, settings, email, code.strip())
    )
    if refused is not None or tokens is None:
        context["errors"] = {"code": refused.message if refused else "That code did not work."}
        return render(request, "account/verify.html", context, status_code=400)
    claims = security.decode_access_token(settings, tokens.access_token)
    user = await accounts.get_active_user(session, claims.user_id)
    response = RedirectResponse(safe_next(next), status_code=303)
    if user is not None:
        start_web_session(response, settings, user)
    return response


@router.get("/reset", response_class=HTMLResponse)
async def reset_page(request: Request, email: str = "") -> Response:
    return render(request, "account/reset.html", {"email": email, "sent": False, "errors": {}})


@router.post("/reset", response_class=HTMLResponse)
async def reset_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    csrf: Csrf = None,
    email: Annotated[str, Form(max_length=320)] = "",
    code: Annotated[str, Form(max_length=12)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Two steps on one page: ask for a code, then enter it with the new password."""
    check_csrf(request, csrf)
    settings = request.app.state.settings
    if not code:
        if email.strip():
            await accounts.request_password_reset(session, settings, email)
        context = {"email": email, "sent": bool(email.strip()), "errors": {}}
        if not email.strip():
            context["errors"] = {"email": "Enter your email address."}
        return render(request, "account/reset.html", context, status_code=200 if email else 400)
    data, errors = parse(
        PasswordResetConfirm, {"email": email, "code": code.strip(), "new_password": new_password}
    )
    if data is not None:
        _done, refused = await attempt(
            session,
            lambda: accounts.confirm_password_reset(
                session, settings, str(data.email), data.code, data.new_password
            ),
        )
        if refused is None:
            return RedirectResponse("/login?reset=1", status_code=303)
        errors["code"] = refused.message
    context = {"email": email, "sent": True, "errors": errors}
    return render(request, "account/reset.html", context, status_code=400)


@router.get("/my/password", response_class=HTMLResponse)
async def password_page(request: Request, session: DbSession, changed: int = 0) -> Response:
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse("/login?next=/my/password", status_code=303)
    context = {"user": user, "errors": {}, "changed": bool(changed)}
    return render(request, "account/password.html", context)


@router.post("/my/password", response_class=HTMLResponse)
async def password_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    csrf: Csrf = None,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    check_csrf(request, csrf)
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse("/login?next=/my/password", status_code=303)
    data, errors = parse(
        PasswordChange, {"current_password": current_password, "new_password": new_password}
    )
    if not current_password:
        errors["current_password"] = "Enter your current password."  # noqa: S105
        data = None
    if data is not None:
        settings = request.app.state.settings
        _done, refused = await attempt(
            session,
            lambda: accounts.change_password(
                session, settings, user, data.current_password, data.new_password
            ),
        )
        if refused is None:
            # This browser stays signed in; the others were signed out.
            response = RedirectResponse("/my/password?changed=1", status_code=303)
            start_web_session(response, settings, user)
            return response
        errors["current_password"] = refused.message
    context = {"user": user, "errors": errors, "changed": False}
    return render(request, "account/password.html", context, status_code=400)


@router.get("/terms", response_class=HTMLResponse)
async def terms(request: Request, session: DbSession) -> Response:
    """The operator's own terms where they have them (TERMS_URL), else ours."""
    settings = request.app.state.settings
    if settings.terms_url:
        return RedirectResponse(settings.terms_url, status_code=302)
    return render(request, "account/terms.html", {"user": await web_user(request, session)})


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(request: Request, session: DbSession) -> Response:
    """The operator's own privacy notice where they have one (PRIVACY_URL), else ours,
    which says what this software keeps and why."""
    settings = request.app.state.settings
    if settings.privacy_url:
        return RedirectResponse(settings.privacy_url, status_code=302)
    return render(request, "account/privacy.html", {"user": await web_user(request, session)})
