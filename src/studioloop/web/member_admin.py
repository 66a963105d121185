"""One of the studio's people, for its admins: details, role and status, bookings and
attendance, credits (with an adjustment), membership (with the staff actions billing
offers) and staff notes.

Every change is a service's: `members.update_member`, `credits.adjust`, `billing.cancel`,
`billing.keep`, `billing.pause`, `members.add_note`. The page reads the form, calls, and
shows the answer; a person of another studio, a malformed id or a refused action is a
message on the page and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import members
from studioloop.accounts.models import User
from studioloop.accounts.schemas import MemberUpdate
from studioloop.billing import service as billing
from studioloop.booking import reading as booking_reading
from studioloop.core.errors import AppError
from studioloop.credits import service as credits
from studioloop.credits.schemas import AdjustmentIn
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt, parse
from studioloop.web.member_history import attendance
from studioloop.web.members_admin import ROLES
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 90
NOT_HERE = "That person is not one of this studio's people."
DONE = {
    "saved": "Saved.",
    "credits": "Credits adjusted.",
    "note": "Note added.",
    "cancel": "The membership ends when its period does.",
    "end": "The membership has ended.",
    "keep": "The membership renews again as before.",
    "pause": "The membership is paused for those days.",
}
ACTIONS = ("cancel", "end", "keep", "pause")


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def _missing(request: Request, session: DbSession, tenant: TenantRef, user: User) -> Response:
    context = {**await studio_context(session, tenant), "user": user, "error": NOT_HERE}
    return render(request, "owner/member_missing.html", context, status_code=404)


async def _detail(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    member_id: uuid.UUID,
    *,
    error: str | None = None,
    notice: str | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    found, _problem = await attempt(
        session, lambda: members.get_member(session, tenant.id, member_id)
    )
    if found is None:
        return await _missing(request, session, tenant, user)
    now = datetime.now(UTC)
    upcoming = await booking_reading.list_bookings(
        session, member_id, status=None, start_from=now, start_to=None, limit=20
    )
    past = await booking_reading.list_bookings(
        session,
        member_id,
        status=None,
        start_from=now - timedelta(days=HISTORY_DAYS),
        start_to=now,
        limit=200,
    )
    account, lots, history = await credits.statement(session, tenant.id, member_id, limit=20)
    subscriptions = await billing.list_subscriptions(session, user_id=member_id, status=None)
    subscription = subscriptions[0] if subscriptions else None
    plan = await billing.get_plan(session, subscription.plan_id) if subscription else None
    shown = [
        (b, kind, words.replace("by you", "by the member"))
        for b in reversed(past)
        for kind, words in [attendance(b)]
    ]
    context: dict[str, Any] = {
        **await studio_context(session, tenant),
        "user": user,
        "member": found,
        "balance": account.balance if account else 0,
        "lots": lots,
        "history": history,
        "upcoming": upcoming,
        "past": shown,
        "attended": sum(1 for _b, kind, _w in shown if kind == "attended"),
        "history_days": HISTORY_DAYS,
        "subscription": subscription,
        "plan": plan,
        "live": subscription is not None and subscription.status in billing.LIVE,
        "notes": await members.notes_about(session, member_id),
        "roles": ROLES,
        "error": error,
        "notice": notice,
        "errors": errors or {},
        "typed": typed or {},
        "today": now.date().isoformat(),
    }
    return render(request, "owner/member.html", context, status_code=status_code)


async def _post(
    request: Request, session: DbSession, tenant: TenantRef, raw_id: str
) -> tuple[Any, User | None, uuid.UUID | None, Response | None]:
    """A form posted about one person: fields, admin, the person's id, or the answer."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return form, user, None, refused or Response(status_code=401)
    member_id = _uuid(raw_id)
    if member_id is None:
        return form, user, None, await _missing(request, session, tenant, user)
    _found, problem = await attempt(
        session, lambda: members.get_member(session, tenant.id, member_id)
    )
    if problem is not None:
        return form, user, None, await _missing(request, session, tenant, user)
    return form, user, member_id, None


def _said(problem: AppError) -> str:
    """A refusal in words: the field's own message when the service named one."""
    details = problem.details if isinstance(problem.details, dict) else {}
    fields = details.get("fields") or []
    if fields and isinstance(fields[0], dict) and fields[0].get("message"):
        message = str(fields[0]["message"])
        return message[:1].upper() + message[1:].rstrip(".") + "."
    return problem.message


def _done(tenant: TenantRef, member_id: uuid.UUID, what: str) -> Response:
    target = f"/s/{tenant.slug}/admin/members/{member_id}?done={what}"
    return RedirectResponse(target, status_code=303)


@router.get("/s/{slug}/admin/members/{member_id}", response_class=HTMLResponse)
async def member_page(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: str
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    ident = _uuid(member_id)
    if ident is None:
        return await _missing(request, session, tenant, user)
    notice = DONE.get(request.query_params.get("done", ""))
    if request.query_params.get("saved"):
        notice = DONE["saved"]
    return await _detail(request, session, tenant, user, ident, notice=notice)


@router.post("/s/{slug}/admin/members/{member_id}", response_class=HTMLResponse)
async def update_member(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: str
) -> Response:
    form, user, ident, answer = await _post(request, session, tenant, member_id)
    if answer is not None or user is None or ident is None:
        return answer or Response(status_code=401)
    data = {k: str(form.get(k)) for k in ("role", "status") if form.get(k)}
    parsed, errors = parse(MemberUpdate, data)
    problem_text = next(iter(errors.values()), None)
    if parsed is not None:
        actor = await members.membership_of(session, tenant.id, user.id)
        assert actor is not None
        _done_row, problem = await attempt(
            session, lambda: members.update_member(session, tenant.id, actor, ident, parsed)
        )
        if problem is None:
            return _done(tenant, ident, "saved")
        problem_text = problem.message
    return await _detail(request, session, tenant, user, ident, error=problem_text, status_code=409)


@router.post("/s/{slug}/admin/members/{member_id}/credits", response_class=HTMLResponse)
async def adjust_credits(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: str
) -> Response:
    """Add (a positive number) or take away (negative) credits, with the reason."""
    form, user, ident, answer = await _post(request, session, tenant, member_id)
    if answer is not None or user is None or ident is None:
        return answer or Response(status_code=401)
    typed = {k: str(form.get(k) or "").strip() for k in ("amount", "reason", "valid_days")}
    data: dict[str, Any] = {k: v for k, v in typed.items() if v}
    parsed, errors = parse(AdjustmentIn, data)
    if parsed is not None and parsed.valid_days and parsed.amount < 0:
        parsed, errors["valid_days"] = None, "Only credits added can expire."
    if parsed is not None:
        adjustment = parsed
        _balance, problem = await attempt(
            session,
            lambda: credits.adjust(
                session,
                tenant.id,
                ident,
                adjustment.amount,
                reason=adjustment.reason,
                actor_user_id=user.id,
                valid_days=adjustment.valid_days,
            ),
        )
        if problem is None:
            return _done(tenant, ident, "credits")
        errors["form"] = problem.message
    return await _detail(
        request,
        session,
        tenant,
        user,
        ident,
        error="The credits were not changed: see below.",
        errors={"credits": errors},
        typed={"credits": typed},
        status_code=400 if "form" not in errors else 409,
    )


@router.post("/s/{slug}/admin/members/{member_id}/notes", response_class=HTMLResponse)
async def add_note(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: str
) -> Response:
    form, user, ident, answer = await _post(request, session, tenant, member_id)
    if answer is not None or user is None or ident is None:
        return answer or Response(status_code=401)
    body = str(form.get("body") or "")
    _note, problem = await attempt(
        session, lambda: members.add_note(session, tenant.id, user.id, ident, body)
    )
    if problem is None:
        return _done(tenant, ident, "note")
    return await _detail(
        request,
        session,
        tenant,
        user,
        ident,
        error="The note was not saved.",
        errors={"note": {"body": _said(problem)}},
        typed={"note": {"body": body}},
        status_code=400,
    )


@router.post("/s/{slug}/admin/members/{member_id}/membership", response_class=HTMLResponse)
async def membership_action(
    request: Request, tenant: CurrentTenant, session: DbSession, member_id: str
) -> Response:
    """`action`: cancel (at the period's end), end (now), keep (undo a cancel), pause
    (`start`, `end`: whole days)."""
    form, user, ident, answer = await _post(request, session, tenant, member_id)
    if answer is not None or user is None or ident is None:
        return answer or Response(status_code=401)
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        return await _detail(
            request, session, tenant, user, ident, error="Choose what to do.", status_code=400
        )
    subscription = await billing.live_subscription_of(session, ident)
    if subscription is None:
        return await _detail(
            request,
            session,
            tenant,
            user,
            ident,
            error="This person has no membership running.",
            status_code=409,
        )
    typed = {k: str(form.get(k) or "").strip() for k in ("start", "end")}
    days: list[date] = []
    if action == "pause":
        try:
            days = [date.fromisoformat(typed["start"]), date.fromisoformat(typed["end"])]
        except ValueError:
            return await _detail(
                request,
                session,
                tenant,
                user,
                ident,
                error="Give the pause's first day and the day it is active again.",
                typed={"pause": typed},
                status_code=400,
            )

    async def act() -> object:
        if action == "keep":
            return await billing.keep(session, subscription)
        if action == "pause":
            return await billing.pause(session, subscription, days[0], days[1])
        return await billing.cancel(session, subscription, immediately=action == "end")

    _changed, problem = await attempt(session, act)
    if problem is None:
        return _done(tenant, ident, action)
    return await _detail(
        request,
        session,
        tenant,
        user,
        ident,
        error=_said(problem),
        typed={"pause": typed},
        status_code=problem.status_code,
    )
