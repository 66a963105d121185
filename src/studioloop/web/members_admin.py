"""Admins find, invite and manage the studio's people from the web."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import invitations, members
from studioloop.accounts.models import User
from studioloop.accounts.schemas import InviteRequest, MemberUpdate
from studioloop.core.pagination import cursor_uuid, decode_cursor, encode_cursor
from studioloop.credits import service as credits
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
ROLES = ("member", "instructor", "admin", "owner")
PAGE = 50


async def _list_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    q: str = "",
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    after = None
    if cursor:
        email, raw_id = decode_cursor(cursor, 2)
        after = (str(email), cursor_uuid(raw_id))
    people = await members.list_members(
        session, tenant.id, role=None, q=q or None, limit=PAGE + 1, offset_after=after
    )
    more = None
    if len(people) > PAGE:
        people = people[:PAGE]
        more = encode_cursor([people[-1].email, str(people[-1].membership_id)])
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "people": people,
        "more": more,
        "q": q,
        "roles": ROLES,
        "form": form or {"role": "member"},
        "errors": errors or {},
        "notice": notice,
    }
    return render(request, "owner/members.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/members", response_class=HTMLResponse)
async def members_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    q: str = Query(default="", max_length=100),
    invited: str = Query(default="", max_length=320),
    cursor: str | None = Query(default=None, max_length=500),
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = f"Invitation sent to {invited}." if invited else None
    return await _list_page(request, session, tenant, user, q=q, cursor=cursor, notice=notice)


@router.post("/s/{slug}/admin/members/invite", response_class=HTMLResponse)
async def invite(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {
        k: str(form.get(k) or "").strip()
        for k in (
            "email",
            "first_name",
            "last_name",
            "phone",
            "role",
        )
    }
    data: dict[str, Any] = {k: v for k, v in fields.items() if v}
    parsed, errors = parse(InviteRequest, data)
    if parsed is not None:
        actor = await members.membership_of(session, tenant.id, user.id)
        assert actor is not None
        settings = request.app.state.settings
        sent, problem = await attempt(
            session, lambda: invitations.invite_member(session, settings, tenant.id, actor, parsed)
        )
        if problem is None and sent is not None:
            target = f"/s/{tenant.slug}/admin/members?invited={parsed.email}"
            return RedirectResponse(target, status_code=303)
        errors["form"] = problem.message if problem else "The invitation was not sent."
    return await _list_page(
        request, session, tenant, user, form=fields, errors=errors, status_code=400
    )


async def _detail(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    member_id: uuid.UUID,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    member = await members.get_member(session, tenant.id, member_id)
    balance = await credits.balance_of(session, tenant.id, member_id)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "member": member,
        "balance": balance,
        "roles": ROLES,
        "error": error,
        "notice": notice,
    }
    return render(request, "owner/member.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/members/{member_id}", response_class=HTMLResponse)
async def member_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    member_id: uuid.UUID,
    saved: int = 0,
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = "Saved." if saved else None
    return await _detail(request, session, tenant, user, member_id, notice=notice)


@router.post("/s/{slug}/admin/members/{member_id}", response_class=HTMLResponse)
async def update_member(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: uuid.UUID
) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    data = {k: str(form.get(k)) for k in ("role", "status") if form.get(k)}
    parsed, errors = parse(MemberUpdate, data)
    problem_text = next(iter(errors.values()), None)
    if parsed is not None:
        actor = await members.membership_of(session, tenant.id, user.id)
        assert actor is not None
        _done, problem = await attempt(
            session,
            lambda: members.update_member(session, tenant.id, actor, member_id, parsed),
        )
        if problem is None:
            return RedirectResponse(
                f"/s/{tenant.slug}/admin/members/{member_id}?saved=1", status_code=303
            )
        problem_text = problem.message
    return await _detail(
        request, session, tenant, user, member_id, error=problem_text, status_code=409
    )
