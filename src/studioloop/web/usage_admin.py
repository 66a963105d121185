"""The creator's usage page (owner and admins): who is near a cap, a daily trend per
meter, the top consumers, every customer's use this period (and as CSV), and the meters
themselves, made, changed and archived.

Every number is the usage service's: this period's use is read from the running totals
the checks read, the trend from the stored events (a total is per period, a day is not).
Every decision on meters is the service's too (`create_meter`, `update_meter`): a refusal
such as METER_SLUG_TAKEN or METER_IN_USE is shown beside its form and changes nothing.
"""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from studioloop.accounts.models import User
from studioloop.core.errors import AppError
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.usage import service as usage
from studioloop.usage.models import AGGREGATIONS, RESETS, UsageMeter
from studioloop.usage.report import PeriodReport, Trend, figure
from studioloop.usage.schemas import MeterIn, MeterUpdate
from studioloop.web.charts import bar_chart
from studioloop.web.forms import attempt, parse
from studioloop.web.members_admin import safe_cell
from studioloop.web.membership_pages import local_day
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
METER_FIELDS = ("slug", "name", "event_name", "aggregation", "value_property", "unit", "reset")
EDIT_FIELDS = tuple(name for name in METER_FIELDS if name != "slug")
REQUIRED_FIELDS = ("slug", "name", "event_name")
SHOWN_CUSTOMERS = 200  # on the page; the CSV has everyone
AGGREGATION_WORDS = {
    "count": "count the events",
    "sum": "add up a number",
    "max": "the highest number",
    "unique_count": "count distinct values",
    "latest": "the latest number",
}
RESET_WORDS = {
    "billing_period": "each billing period",
    "month": "each calendar month",
    "never": "never",
}
STATE_WORDS = {
    "ok": "",
    "warn": "near the cap",
    "blocked": "cap reached",
    "over": "past the cap, billed",
}
NOTICES = {
    "added": "The meter is added: it counts events received from now on.",
    "saved": "Saved.",
    "archived": "The meter is archived: it stopped counting; its totals stay.",
}
NUL_MESSAGE = "Remove the invisible NUL character from this text."


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw or ""))
    except ValueError:
        return None


def _chart(trend: Trend, title: str) -> Any:
    """30 thin bars, a date under every 7th (more would not fit at phone width). Heights
    in hundredths, so a meter of fractions still draws."""
    count = len(trend.days)
    bars = [
        (
            day.strftime("%d/%m") if (count - 1 - index) % 7 == 0 else "",
            int(value * 100),
            "",
        )
        for index, (day, value) in enumerate(trend.days)
    ]
    return bar_chart(title, bars)


async def _usage_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    customer: uuid.UUID | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The page; after a refusal, the form's errors and what was typed, by form key
    (`new`, `meter-{id}`)."""
    found = await usage.period_report(session, tenant.id, tenant.timezone)
    chosen = next((c for c in found.customers if c.user_id == customer), None)
    trends = []
    for meter in found.meters:
        trend = await usage.trend(
            session,
            tenant.id,
            tenant.timezone,
            meter,
            user_id=chosen.user_id if chosen else None,
        )
        who = f" by {chosen.name}" if chosen else ""
        title = f"{meter.name}{who} per day, last {len(trend.days)} days ({meter.unit})"
        trends.append((trend, _chart(trend, title), sum(v for _, v in trend.days)))
    every_meter = await usage.list_meters(session, include_archived=True)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "report": found,
        "customers": found.customers[:SHOWN_CUSTOMERS],
        "more_customers": max(len(found.customers) - SHOWN_CUSTOMERS, 0),
        "chosen": chosen,
        "trends": trends,
        "all_meters": every_meter,
        "figure": figure,
        "local_day": lambda moment: local_day(moment, tenant.timezone),
        "aggregations": [(a, AGGREGATION_WORDS[a]) for a in AGGREGATIONS],
        "resets": [(r, RESET_WORDS[r]) for r in RESETS],
        "aggregation_words": AGGREGATION_WORDS,
        "reset_words": RESET_WORDS,
        "state_words": STATE_WORDS,
        "as_percent": as_percent,
        "errors": errors or {},
        "typed": typed or {},
        "error": error,
        "notice": notice,
    }
    return render(request, "owner/usage.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/usage", response_class=HTMLResponse)
async def usage_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    customer: str = "",
    done: str = "",
) -> Response:
    """This period's usage by customer and meter, and the meters (owner and admins)."""
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _usage_page(
        request, session, tenant, user, customer=_uuid(customer), notice=NOTICES.get(done)
    )


def _csv(found: PeriodReport, timezone: str) -> str:
    """One row per customer and meter: their period, use, what is included and the state."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "customer_id",
            "email",
            "name",
            "tier",
            "meter",
            "unit",
            "period_start",
            "period_end",
            "used",
            "included",
            "cap",
            "state",
        ]
    )
    for customer in found.customers:
        for meter in found.meters:
            use = customer.uses[meter.id]
            cap = use.cap
            writer.writerow(
                [
                    str(customer.user_id),
                    safe_cell(customer.email),
                    safe_cell(customer.name),
                    safe_cell(customer.tier or ""),
                    meter.slug,
                    safe_cell(meter.unit),
                    use.period_start.isoformat() if use.period_end else "",
                    use.period_end.isoformat() if use.period_end else "",
                    figure(use.used),
                    figure(cap.included) if cap else "",
                    ("hard" if cap.hard else "soft") if cap else "",
                    use.state,
                ]
            )
    return out.getvalue()


@router.get("/s/{slug}/admin/usage.csv")
async def usage_csv(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Every customer's use of every live meter this period, for a spreadsheet."""
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    found = await usage.period_report(session, tenant.id, tenant.timezone)
    return Response(
        _csv(found, tenant.timezone),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{tenant.slug}-usage.csv"'},
    )


def _typed(form: FormData, names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    typed = {name: str(form.get(name) or "").strip() for name in names}
    return typed, {name: NUL_MESSAGE for name, value in typed.items() if "\x00" in value}


def _meter_data(typed: dict[str, str]) -> dict[str, Any]:
    """The form's fields as the API's schema takes them: an empty property is none (the
    event's value), an empty unit the default (unchanged when editing), an empty name or
    event name refused."""
    data: dict[str, Any] = {
        name: value for name, value in typed.items() if value or name in REQUIRED_FIELDS
    }
    if "value_property" in typed:
        data["value_property"] = typed["value_property"] or None
    return data


def _refused(problem: AppError, fallback: str) -> dict[str, str]:
    """A service's refusal by the field it is about, and in the form's alert."""
    if problem.code == "METER_SLUG_TAKEN":
        return {"slug": "Another meter already has this slug.", "form": problem.message}
    if problem.code == "METER_INVALID":
        return {"value_property": problem.message, "form": problem.message}
    if problem.code == "METER_IN_USE":
        fields = problem.details.get("fields") if isinstance(problem.details, dict) else None
        marked = {
            str(name): "Cannot change: the meter has counted events." for name in fields or []
        }
        return {**marked, "form": problem.message}
    return {"form": problem.message or fallback}


def _done(tenant: TenantRef, what: str, anchor: str) -> Response:
    return RedirectResponse(f"/s/{tenant.slug}/admin/usage?done={what}#{anchor}", status_code=303)


@router.post("/s/{slug}/admin/usage/meters", response_class=HTMLResponse)
async def add_meter(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    typed, errors = _typed(form, METER_FIELDS)
    status_code = 400
    if not errors:
        parsed, errors = parse(MeterIn, _meter_data(typed))
        if parsed is not None:
            made, problem = await attempt(
                session, lambda: usage.create_meter(session, tenant.id, parsed)
            )
            if made is not None:
                return _done(tenant, "added", f"meter-{made.id}")
            if problem is not None:
                errors = _refused(problem, "The meter could not be added.")
                status_code = problem.status_code
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await _usage_page(
        request, session, tenant, user, errors={"new": errors}, typed={"new": typed},
        status_code=status_code,
    )  # fmt: skip


async def _meter(session: DbSession, raw_id: str) -> UsageMeter | None:
    """The studio's meter, or None: another studio's (row-level security) or a malformed
    id is not found."""
    ident = _uuid(raw_id)
    found = await usage.list_meters(session, include_archived=True)
    return next((m for m in found if m.id == ident), None)


@router.post("/s/{slug}/admin/usage/meters/{meter_id}", response_class=HTMLResponse)
async def edit_meter(
    request: Request, tenant: CurrentTenant, session: DbSession, meter_id: str
) -> Response:
    """Rename a meter or change its unit; what it counts only while it has counted nothing."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    meter = await _meter(session, meter_id)
    if meter is None:
        return await _usage_page(
            request, session, tenant, user, error="That meter is not one of this studio's.",
            status_code=404,
        )  # fmt: skip
    key = f"meter-{meter.id}"
    typed, errors = _typed(form, EDIT_FIELDS)
    status_code = 400
    if not errors:
        parsed, errors = parse(MeterUpdate, _meter_data(typed))
        if parsed is not None:
            _saved, problem = await attempt(
                session, lambda: usage.update_meter(session, meter, parsed)
            )
            if problem is None:
                return _done(tenant, "saved", key)
            errors, status_code = _refused(problem, "The meter was not saved."), problem.status_code
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await _usage_page(
        request, session, tenant, user, errors={key: errors}, typed={key: typed},
        status_code=status_code,
    )  # fmt: skip


@router.post("/s/{slug}/admin/usage/meters/{meter_id}/archive", response_class=HTMLResponse)
async def archive_meter(
    request: Request, tenant: CurrentTenant, session: DbSession, meter_id: str
) -> Response:
    """Stop a meter counting; its totals stay readable."""
    _form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    meter = await _meter(session, meter_id)
    if meter is None:
        return await _usage_page(
            request, session, tenant, user, error="That meter is not one of this studio's.",
            status_code=404,
        )  # fmt: skip
    if meter.archived_at is None:  # archived twice keeps the first time it stopped
        await usage.update_meter(session, meter, MeterUpdate(archived=True))
    return _done(tenant, "archived", "meters-heading")


def as_percent(share: Decimal | None) -> str:
    return "" if share is None else f"{int(share * 100)}%"
