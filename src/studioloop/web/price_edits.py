"""Prices, continued: the owner edits a credit pack or a membership plan, takes one off sale
(or back on), and moves it up or down the list members see.

Taking something off sale only stops selling it: members keep the credits they bought and
the memberships they hold (credits and billing decide that; these pages only set
`is_active`). The order is each service's (`credits.move_package`, `billing.move_plan`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

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
STEPS = {"up": -1, "down": 1}
SALE = {"0": False, "1": True}


@dataclass(frozen=True)
class _Kind:
    """What differs between a credit pack and a membership plan on these pages: the form's
    fields, how they become the API's update, and the service calls. The handlers below
    are the same for both."""

    not_ours: str
    fields: tuple[str, ...]
    to_update: Callable[[dict[str, str]], dict[str, Any]]
    schema: type[BaseModel]
    save: Callable[[AsyncSession, uuid.UUID, Any], Awaitable[object]]
    on_sale: Callable[[AsyncSession, uuid.UUID, bool], Awaitable[object]]
    move: Callable[[AsyncSession, uuid.UUID, int], Awaitable[object]]


def _pack_update(fields: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v or None for k, v in fields.items() if k != "price"}
    data["name"] = fields["name"]
    return data


def _plan_update(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "name": fields["name"],
        "credits_per_period": fields["credits_per_period"] or None,
        "unlimited": bool(fields["unlimited"]),
    }


async def _save_pack(session: AsyncSession, ident: uuid.UUID, update: Any) -> object:
    package = await credits.get_package(session, ident)
    apply_changes(package, update.model_dump(exclude_unset=True), nullable={"validity_days"})
    return await credits.save_package(session, package)


async def _pack_on_sale(session: AsyncSession, ident: uuid.UUID, on_sale: bool) -> object:
    package = await credits.get_package(session, ident)
    package.is_active = on_sale
    return await credits.save_package(session, package)


async def _plan_on_sale(session: AsyncSession, ident: uuid.UUID, on_sale: bool) -> object:
    return await billing.update_plan(session, ident, PlanUpdate(is_active=on_sale))


KINDS = {
    "packs": _Kind(
        not_ours="That credit pack is not one of this studio's.",
        fields=("name", "credits", "price", "validity_days"),
        to_update=_pack_update,
        schema=PackageUpdate,
        save=_save_pack,
        on_sale=_pack_on_sale,
        move=credits.move_package,
    ),
    "plans": _Kind(
        not_ours="That membership is not one of this studio's.",
        fields=("name", "price", "credits_per_period", "unlimited"),
        to_update=_plan_update,
        schema=PlanUpdate,
        save=billing.update_plan,
        on_sale=_plan_on_sale,
        move=billing.move_plan,
    ),
}


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


async def _target(
    request: Request, session: DbSession, tenant: TenantRef, kind: str, item_id: str
) -> tuple[Any, Any, _Kind | None, uuid.UUID | None, Response | None]:
    """The signed-in admin's form and the pack or plan it names, or the answer instead."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return form, user, None, None, refused or Response(status_code=401)
    chosen, ident = KINDS.get(kind), _uuid(item_id)
    if chosen is None or ident is None:
        not_ours = (chosen or KINDS["packs"]).not_ours
        page = await pricing_page_for(
            request, session, tenant, user, error=not_ours, status_code=404
        )
        return form, user, None, None, page
    return form, user, chosen, ident, None


@router.post("/s/{slug}/admin/pricing/{kind}/{item_id}", response_class=HTMLResponse)
async def edit_item(
    request: Request, tenant: CurrentTenant, session: DbSession, kind: str, item_id: str
) -> Response:
    """Save a pack's or plan's name, price and what it gives."""
    form, user, chosen, ident, answer = await _target(request, session, tenant, kind, item_id)
    if answer is not None or chosen is None or ident is None:
        return answer or Response(status_code=404)
    fields = _fields(form, chosen.fields)
    data = chosen.to_update(fields)
    errors: dict[str, str] = {}
    _money(fields, data, errors)
    parsed, problems = parse(chosen.schema, data)
    errors = {**problems, **errors}
    if parsed is not None and not errors:
        _saved, problem = await attempt(session, lambda: chosen.save(session, ident, parsed))
        if problem is None:
            return _done(tenant, "saved")
        if problem.code.endswith("NOT_FOUND"):
            return await pricing_page_for(
                request, session, tenant, user, error=chosen.not_ours, status_code=404
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
    form, user, chosen, ident, answer = await _target(request, session, tenant, kind, item_id)
    if answer is not None or chosen is None or ident is None:
        return answer or Response(status_code=404)
    on_sale = SALE.get(str(form.get("on_sale") or ""))
    if on_sale is None:
        return await pricing_page_for(
            request, session, tenant, user, error="Choose on sale or off sale.", status_code=400
        )
    _changed, problem = await attempt(session, lambda: chosen.on_sale(session, ident, on_sale))
    if problem is not None:
        return await pricing_page_for(
            request, session, tenant, user, error=chosen.not_ours, status_code=problem.status_code
        )
    return _done(tenant, "restored" if on_sale else "retired")


@router.post("/s/{slug}/admin/pricing/{kind}/{item_id}/move", response_class=HTMLResponse)
async def move_item(
    request: Request, tenant: CurrentTenant, session: DbSession, kind: str, item_id: str
) -> Response:
    """`direction=up` or `down`: one place in the list members see."""
    form, user, chosen, ident, answer = await _target(request, session, tenant, kind, item_id)
    if answer is not None or chosen is None or ident is None:
        return answer or Response(status_code=404)
    step = STEPS.get(str(form.get("direction") or ""))
    if step is None:
        return await pricing_page_for(
            request, session, tenant, user, error="Move it up or down.", status_code=400
        )
    _moved, problem = await attempt(session, lambda: chosen.move(session, ident, step))
    if problem is not None:
        return await pricing_page_for(
            request, session, tenant, user, error=chosen.not_ours, status_code=problem.status_code
        )
    return _done(tenant, "moved")
