"""A studio's marketplace page for its admins: whether it takes part, its floor price, its
terms, and the month's statement of what the marketplace owes it (with a CSV)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.marketplace import service as marketplace, statement
from studioloop.marketplace.schemas import TermsIn
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.tenants.schemas import TenantUpdate
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context
from studioloop.web.timetable_admin import AMOUNT_HINT, cents

router = APIRouter(include_in_schema=False)


def _month(text: str | None, timezone: str) -> date:
    """The first day of a month given as 2026-11 (this month, in the studio's zone, when
    missing or mangled)."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return datetime.now(ZoneInfo(timezone)).date().replace(day=1)


def _next(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _previous(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    month: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    settings = request.app.state.settings
    first = _month(month, tenant.timezone)
    context: dict[str, Any] = await studio_context(session, tenant)
    terms = await marketplace.terms_of(session, settings, tenant.id)
    context.update(
        user=user,
        terms=terms,
        statement=await statement.statement(session, tenant.id, first, _next(first)),
        month=first,
        previous_month=_previous(first).strftime("%Y-%m"),
        next_month=_next(first).strftime("%Y-%m"),
        this_month=first == _month(None, tenant.timezone),
        money=format_money,
        zone=ZoneInfo(tenant.timezone),
        errors=errors or {},
        form=form or {"floor_price": f"{terms.floor_price / 100:.2f}"},
        saved=saved,
    )
    return render(request, "owner/marketplace.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/marketplace", response_class=HTMLResponse)
async def marketplace_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    month: str | None = None,
    saved: int = 0,
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _page(request, session, tenant, user, month=month, saved=bool(saved))


@router.post("/s/{slug}/admin/marketplace", response_class=HTMLResponse)
async def save_marketplace(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    floor_text = str(form.get("floor_price") or "0").strip() or "0"
    floor = cents(floor_text)
    if floor is None:
        errors = {"floor_price": AMOUNT_HINT}
        fields = {"floor_price": floor_text}
        return await _page(
            request, session, tenant, user, errors=errors, form=fields, status_code=400
        )
    row = await tenants_service.get_tenant(session, tenant.id)
    enabled = bool(form.get("marketplace_enabled"))
    await tenants_service.update_tenant(
        session, row, TenantUpdate(marketplace_enabled=enabled), by_platform_owner=False
    )
    await marketplace.change_terms(
        session,
        request.app.state.settings,
        tenant.id,
        TermsIn(floor_price=int(floor)),
        by_operator=False,
    )
    return RedirectResponse(f"/s/{tenant.slug}/admin/marketplace?saved=1", status_code=303)


@router.get("/s/{slug}/admin/marketplace/statement.csv")
async def statement_csv(
    request: Request, tenant: CurrentTenant, session: DbSession, month: str | None = None
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    first = _month(month, tenant.timezone)
    found = await statement.statement(session, tenant.id, first, _next(first))
    name = f"marketplace-{tenant.slug}-{first:%Y-%m}.csv"
    return Response(
        statement.as_csv(found, tenant.timezone),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
