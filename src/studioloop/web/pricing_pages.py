"""Prices: admins set up credit packs and membership plans; members join a membership."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.billing import service as billing
from studioloop.billing.schemas import PlanIn
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.credits.models import CreditPackage
from studioloop.credits.schemas import PackageIn
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, parse
from studioloop.web.membership_pages import NO_SUCH_PLAN, membership_of
from studioloop.web.owner_pages import admin_of
from studioloop.web.routes import render
from studioloop.web.session import web_user
from studioloop.web.studio_pages import studio_context
from studioloop.web.timetable_admin import AMOUNT_HINT, cents

router = APIRouter(include_in_schema=False)


async def pricing_page_for(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    forms: dict[str, dict[str, str]] | None = None,
    error: str | None = None,
    notice: str | None = None,
    editing: str | None = None,
    edit_errors: dict[str, str] | None = None,
    edit_form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The Prices page; `editing` (a pack's or plan's id) opens that one's edit form with
    `edit_form`'s values and `edit_errors` beside its fields."""
    packs = await credits.list_packages(session, include_inactive=True)
    plans = await billing.list_plans(session, include_inactive=True)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "packs": [(p, format_money(p.price, tenant.currency)) for p in packs],
        "plans": [(p, format_money(p.price, tenant.currency)) for p in plans],
        "errors": errors or {"pack": {}, "plan": {}},
        "forms": forms or {"pack": {}, "plan": {"interval": "month"}},
        "error": error,
        "notice": notice,
        "editing": editing,
        "edit_errors": edit_errors or {},
        "edit_form": edit_form or {},
    }
    return render(request, "owner/pricing.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/pricing", response_class=HTMLResponse)
async def pricing_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return await pricing_page_for(request, session, tenant, user, notice=notice)


NOTICES = {
    "saved": "Saved.",
    "retired": "Taken off sale. Members keep what they already bought.",
    "restored": "Back on sale.",
    "moved": "Order saved.",
}


async def _form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    return {name: str(form.get(name) or "").strip() for name in names}


@router.post("/s/{slug}/admin/pricing/packs", response_class=HTMLResponse)
async def create_pack(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    fields = await _form(request, ("name", "credits", "price", "validity_days"))
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    data: dict[str, Any] = {k: v for k, v in fields.items() if v}
    price = cents(data["price"]) if "price" in data else None
    data["price"] = price
    parsed, errors = parse(PackageIn, data)
    if fields["price"] and price is None:
        errors["price"], parsed = AMOUNT_HINT, None
    if parsed is not None:
        row = CreditPackage(tenant_id=tenant.id, **parsed.model_dump())
        _saved, problem = await attempt(session, lambda: credits.save_package(session, row))
        if problem is None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/pricing", status_code=303)
        errors["form"] = problem.message
    return await pricing_page_for(
        request,
        session,
        tenant,
        user,
        errors={"pack": errors, "plan": {}},
        forms={"pack": fields, "plan": {}},
        status_code=400,
    )


@router.post("/s/{slug}/admin/pricing/plans", response_class=HTMLResponse)
async def create_plan(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    fields = await _form(request, ("name", "price", "interval", "credits_per_period", "unlimited"))
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    data: dict[str, Any] = {k: v for k, v in fields.items() if v and k != "unlimited"}
    data["unlimited"] = bool(fields["unlimited"])
    price = cents(data["price"]) if "price" in data else None
    data["price"] = price
    parsed, errors = parse(PlanIn, data)
    if fields["price"] and price is None:
        errors["price"], parsed = AMOUNT_HINT, None
    if parsed is not None:
        _plan, problem = await attempt(
            session, lambda: billing.create_plan(session, tenant.id, parsed)
        )
        if problem is None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/pricing", status_code=303)
        errors["name" if problem.code == "NAME_TAKEN" else "form"] = problem.message
    return await pricing_page_for(
        request,
        session,
        tenant,
        user,
        errors={"pack": {}, "plan": errors},
        forms={"pack": {}, "plan": fields},
        status_code=400,
    )


async def _memberships_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The plans on sale, each with what joining commits to (price per period, the first
    renewal's date, how cancelling works) or, for a member, their plan and the way to
    switch."""
    shown = await studio_context(session, tenant)
    zone = ZoneInfo(shown["studio"].timezone)
    plans = await billing.list_plans(session, include_inactive=False)
    now = datetime.now(UTC)
    context = {
        **shown,
        "user": user,
        "mine": await membership_of(session, user),
        "plans": [
            (
                p,
                format_money(p.price, tenant.currency),
                billing.add_interval(now, p.interval).astimezone(zone).strftime("%d %b %Y"),
            )
            for p in plans
        ],
        "error": error,
    }
    return render(request, "studio/memberships.html", context, status_code=status_code)


@router.get("/s/{slug}/memberships", response_class=HTMLResponse)
async def memberships_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    return await _memberships_page(request, session, tenant, await web_user(request, session))


@router.post("/s/{slug}/memberships/{plan_id}")
async def join_membership(
    request: Request, tenant: CurrentTenant, session: DbSession, plan_id: str
) -> Response:
    await _form(request, ())
    user = await web_user(request, session)
    if user is None:
        target = f"/s/{tenant.slug}/memberships"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    try:
        plan_uuid = uuid.UUID(plan_id)
    except ValueError:
        return await _memberships_page(
            request, session, tenant, user, error=NO_SUCH_PLAN, status_code=404
        )
    settings = request.app.state.settings
    base = str(request.base_url).rstrip("/")
    started, problem = await attempt(
        session, lambda: billing.start(session, settings, tenant, user, plan_uuid, base)
    )
    if problem is not None or started is None:
        message = problem.message if problem else "The membership could not be started."
        if problem is not None and problem.code == "ALREADY_SUBSCRIBED":
            message = "You already have a membership here: switch plans from My membership."
        return await _memberships_page(
            request,
            session,
            tenant,
            user,
            error=message,
            status_code=problem.status_code if problem else 409,
        )
    _subscription, payment = started
    return RedirectResponse(payment.checkout_url or f"/s/{tenant.slug}", status_code=303)
