"""Prices, continued: the owner edits a credit pack or a membership plan, takes one off sale
(or back on), and moves it up or down the list members see.

Taking something off sale only stops selling it: members keep the credits they bought and
the memberships they hold (credits and billing decide that; these pages only set
`is_active`). The order is each service's (`credits.move_package`, `billing.move_plan`).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.billing import service as billing
from studioloop.billing.schemas import PlanUpdate
from studioloop.core.patching import apply_changes
from studioloop.credits import service as credits
from studioloop.credits.schemas import PackageUpdate
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form
from studioloop.web.pricing_pages import pricing_page_for
from studioloop.web.timetable_admin import AMOUNT_HINT, cents

router = APIRouter(include_in_schema=False)
NO_SUCH = {
    "packs": "That credit pack is not one of this studio's.",
    "plans": "That membership is not one of this studio's.",
}
STEPS = {"up": -1, "down": 1}
SALE = {"0": False, "1": True}


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _done(tenant: TenantRef, what: str) -> Response:
    return RedirectResponse(f"/s/{tenant.slug}/admin/pricing?done={what}", status_code=303)


def _fields(form: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in names}


def _money(fields: dict[str, str], data: dict[str, Any], errors: dict[str, str]) -> None:
    """The price typed as `120.50` or `R1 800`, in minor units; empty is refused too."""
    price = cents(fields["price"]) if fields["price"] else None
    if price is None:
        errors["price"] = AMOUNT_HINT
    else:
        data["price"] = price


@router.post("/s/{slug}/admin/pricing/{kind}/{item_id}", response_class=HTMLResponse)
async def edit_item(
    request: Request, tenant: CurrentTenant, session: DbSession, kind: str, item_id: str
) -> Response:
    """Save a pack's or plan's name, price and what it gives."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    ident = _uuid(item_id)
    if kind not in NO_SUCH or ident is None:
        return await pricing_page_for(
            request,
            session,
            tenant,
            user,
            error=NO_SUCH.get(kind, NO_SUCH["packs"]),
            status_code=404,
        )
    if kind == "packs":
        fields = _fields(form, ("name", "credits", "price", "validity_days"))
        data: dict[str, Any] = {k: v or None for k, v in fields.items() if k != "price"}
        data["name"] = fields["name"]
        errors: dict[str, str] = {}
        _money(fields, data, errors)
        parsed, problems = parse(PackageUpdate, data)
        errors = {**problems, **errors}
        if parsed is not None and not errors:
            changes = parsed.model_dump(exclude_unset=True)

            async def save_pack() -> object:
                package = await credits.get_package(session, ident)
                apply_changes(package, changes, nullable={"validity_days"})
                return await credits.save_package(session, package)

            _saved, problem = await attempt(session, save_pack)
            if problem is None:
                return _done(tenant, "saved")
            if problem.code.endswith("NOT_FOUND"):
                return await pricing_page_for(
                    request, session, tenant, user, error=NO_SUCH[kind], status_code=404
                )
            errors["name" if problem.code == "NAME_TAKEN" else "form"] = problem.message
    else:
        fields = _fields(form, ("name", "price", "credits_per_period", "unlimited"))
        data = {"name": fields["name"], "credits_per_period": fields["credits_per_period"] or None}
        data["unlimited"] = bool(fields["unlimited"])
        errors = {}
        _money(fields, data, errors)
        parsed_plan, problems = parse(PlanUpdate, data)
        errors = {**problems, **errors}
        if parsed_plan is not None and not errors:
            _plan, problem = await attempt(
                session, lambda: billing.update_plan(session, ident, parsed_plan)
            )
            if problem is None:
                return _done(tenant, "saved")
            if problem.code.endswith("NOT_FOUND"):
                return await pricing_page_for(
                    request, session, tenant, user, error=NO_SUCH[kind], status_code=404
                )
            errors["name" if problem.code == "NAME_TAKEN" else "form"] = problem.message
    return await pricing_page_for(
        request,
        session,
        tenant,
        user,
        editing=str(ident),
        edit_errors=errors,
        edit_form=fields,
        error="Nothing was saved: see the form below.",
        status_code=400,
    )


@router.post("/s/{slug}/admin/pricing/{kind}/{item_id}/sale", response_class=HTMLResponse)
async def put_on_sale(
    request: Request, tenant: CurrentTenant, session: DbSession, kind: str, item_id: str
) -> Response:
    """`on_sale=0` takes it off sale (members keep what they bought); `1` sells it again."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    ident = _uuid(item_id)
    on_sale = SALE.get(str(form.get("on_sale") or ""))
    if kind not in NO_SUCH or ident is None:
        return await pricing_page_for(
            request,
            session,
            tenant,
            user,
            error=NO_SUCH.get(kind, NO_SUCH["packs"]),
            status_code=404,
        )
    if on_sale is None:
        return await pricing_page_for(
            request, session, tenant, user, error="Choose on sale or off sale.", status_code=400
        )

    async def change() -> object:
        if kind == "plans":
            return await billing.update_plan(session, ident, PlanUpdate(is_active=on_sale))
        package = await credits.get_package(session, ident)
        package.is_active = on_sale
        return await credits.save_package(session, package)

    _done_row, problem = await attempt(session, change)
    if problem is not None:
        return await pricing_page_for(
            request, session, tenant, user, error=NO_SUCH[kind], status_code=problem.status_code
        )
    return _done(tenant, "restored" if on_sale else "retired")


@router.post("/s/{slug}/admin/pricing/{kind}/{item_id}/move", response_class=HTMLResponse)
async def move_item(
    request: Request, tenant: CurrentTenant, session: DbSession, kind: str, item_id: str
) -> Response:
    """`direction=up` or `down`: one place in the list members see."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    ident = _uuid(item_id)
    step = STEPS.get(str(form.get("direction") or ""))
    if kind not in NO_SUCH or ident is None:
        return await pricing_page_for(
            request,
            session,
            tenant,
            user,
            error=NO_SUCH.get(kind, NO_SUCH["packs"]),
            status_code=404,
        )
    if step is None:
        return await pricing_page_for(
            request, session, tenant, user, error="Move it up or down.", status_code=400
        )

    async def move() -> object:
        if kind == "plans":
            return await billing.move_plan(session, ident, step)
        return await credits.move_package(session, ident, step)

    _moved, problem = await attempt(session, move)
    if problem is not None:
        return await pricing_page_for(
            request, session, tenant, user, error=NO_SUCH[kind], status_code=problem.status_code
        )
    return _done(tenant, "moved")
