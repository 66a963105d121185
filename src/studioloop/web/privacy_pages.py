"""Deleting an account: a member erasing their own ("Delete my account", from the
profile), and the platform operator finding an account by email and erasing it on the
person's request. The rules are the privacy domain's; these pages show its plan."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.session import DbSession
from studioloop.privacy import service as privacy
from studioloop.web.admin import operator
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt
from studioloop.web.routes import render
from studioloop.web.session import end_web_session, web_user

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]
DELETE_PAGE = "/my/account/delete"


@router.get(DELETE_PAGE, response_class=HTMLResponse)
async def delete_page(request: Request, session: DbSession) -> Response:
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse(f"/login?next={DELETE_PAGE}", status_code=303)
    plan = await privacy.erasure_plan(session, user)
    return render(request, "account/delete.html", {"user": user, "plan": plan, "errors": {}})


@router.post(DELETE_PAGE, response_class=HTMLResponse)
async def delete_submit(
    request: Request,
    session: DbSession,
    _: SensitiveRateLimit,
    csrf: Csrf = None,
    password: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse(f"/login?next={DELETE_PAGE}", status_code=303)
    errors: dict[str, str] = {}
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105
    if not confirm:
        errors["confirm"] = "Tick the box to confirm."
    if not errors:
        settings = request.app.state.settings
        _record, refused = await attempt(
            session, lambda: privacy.erase_self(session, settings, user, password)
        )
        if refused is None:
            response = RedirectResponse("/account-deleted", status_code=303)
            end_web_session(response)
            return response
        errors["password" if refused.code == "WRONG_PASSWORD" else "form"] = refused.message
    plan = await privacy.erasure_plan(session, user)
    context = {"user": user, "plan": plan, "errors": errors}
    return render(request, "account/delete.html", context, status_code=400)


@router.get("/account-deleted", response_class=HTMLResponse)
async def deleted_page(request: Request) -> Response:
    return render(request, "account/deleted.html", {"user": None})


# --- the operator ------------------------------------------------------------------------


@router.get("/admin/platform/users", response_class=HTMLResponse)
async def find_users(request: Request, session: DbSession, email: str = "") -> Response:
    """Find an account by (part of) its email, to erase it on the person's request."""
    user, refused = await operator(request, session)
    if refused is not None:
        return refused
    query = email.strip()[:320]
    found = await privacy.find_users(session, query) if len(query) >= 3 else []
    context = {"user": user, "email": query, "found": found, "searched": len(query) >= 3}
    return render(request, "admin/users.html", context)


@router.get("/admin/platform/users/{user_id}", response_class=HTMLResponse)
async def user_erasure_page(
    request: Request, session: DbSession, user_id: uuid.UUID, erased: int = 0
) -> Response:
    user, refused = await operator(request, session)
    if refused is not None:
        return refused
    target = await privacy.user_for_operator(session, user_id)
    context: dict[str, object] = {
        "user": user,
        "target": target,
        "plan": await privacy.erasure_plan(session, target),
        "records": await privacy.records_for(session, target.id),
        "erased": bool(erased),
        "errors": {},
    }
    return render(request, "admin/user_erasure.html", context)


@router.post("/admin/platform/users/{user_id}/erase", response_class=HTMLResponse)
async def erase_user(
    request: Request,
    session: DbSession,
    user_id: uuid.UUID,
    csrf: Csrf = None,
    reason: Annotated[str, Form(max_length=500)] = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    check_csrf(request, csrf)
    user, refused = await operator(request, session)
    if refused is not None or user is None:
        return refused or RedirectResponse("/login", status_code=303)
    target = await privacy.user_for_operator(session, user_id)
    errors: dict[str, str] = {}
    if len(reason.strip()) < 3:
        errors["reason"] = "Say why (the request's reference, at least 3 characters)."
    if confirm != "1":
        errors["confirm"] = "Tick this to confirm: an erasure cannot be undone."
    if not errors:
        settings = request.app.state.settings
        _record, failed = await attempt(
            session,
            lambda: privacy.erase_user(
                session,
                settings,
                target,
                requested_by=f"operator:{user.id}",
                reason=reason.strip(),
            ),
        )
        if failed is None:
            return RedirectResponse(
                f"/admin/platform/users/{quote(str(target.id))}?erased=1", status_code=303
            )
        errors["form"] = failed.message
    context = {
        "user": user,
        "target": target,
        "plan": await privacy.erasure_plan(session, target),
        "records": await privacy.records_for(session, target.id),
        "erased": False,
        "errors": errors,
    }
    return render(request, "admin/user_erasure.html", context, status_code=400)
