"""Admins set up classes and their weekly timetable from the web, without the API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from studioloop.accounts import members
from studioloop.accounts.models import User
from studioloop.db.session import DbSession
from studioloop.marketplace import pricing, service as marketplace
from studioloop.scheduling import series, service as scheduling, timetable
from studioloop.scheduling.models import ScheduleSeries
from studioloop.scheduling.schemas import ClassIn, ClassUpdate, ScheduleIn, SeriesUpdate
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LEVELS = {
    "all_levels": "All levels",
    "beginner": "Beginner",
    "intermediate": "Intermediate",
    "advanced": "Advanced",
}


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    class_form: dict[str, Any] | None = None,
    series_form: dict[str, Any] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    classes = await scheduling.list_classes(session, tenant, include_inactive=True, class_type=None)
    people = await members.list_members(
        session, tenant.id, role=None, q=None, limit=200, offset_after=None
    )
    series = list(
        await session.scalars(
            select(ScheduleSeries).order_by(
                ScheduleSeries.class_id, ScheduleSeries.local_start_time
            )
        )
    )
    names = {c.id: c.name for c in classes}
    teachers = [
        p
        for p in people
        if p.user_id and p.status == "active" and p.role in ("instructor", "admin", "owner")
    ]
    today = datetime.now(ZoneInfo(tenant.timezone)).date()
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "classes": classes,
        "weekdays": list(enumerate(WEEKDAYS)),
        "teachers": teachers,
        "series": [
            (s, names.get(s.class_id, "?"), ", ".join(WEEKDAYS[d] for d in s.weekdays))
            for s in series
        ],
        "levels": LEVELS,
        "class_form": class_form
        or {"duration_minutes": "60", "max_capacity": "12", "credits_required": "1"},
        "series_form": series_form or {"starts_on": today.isoformat(), "local_start_time": "06:30"},
        "errors": {"class": {}, "series": {}, "change": {}, **(errors or {})},
        "notice": notice,
    }
    return render(request, "owner/classes.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/classes", response_class=HTMLResponse)
async def classes_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    created: int = 0,
    changed: int = 0,
    saved: int = 0,
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = "The class is added. Now give it weekly times." if created else None
    if changed:
        notice = "The weekly times are changed."
    if saved:
        notice = "The class is saved."
    return await _page(request, session, tenant, user, notice=notice)


@router.post("/s/{slug}/admin/classes", response_class=HTMLResponse)
async def create_class(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {
        k: str(form.get(k) or "").strip()
        for k in (
            "name",
            "class_type",
            "duration_minutes",
            "max_capacity",
            "credits_required",
            "price",
            "difficulty_level",
            "description",
            "instructor_id",
        )
    }
    data: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
    price = cents(data["price"]) if "price" in data else None
    if "price" in data:
        data["price"] = price
    parsed, errors = parse(ClassIn, data)
    if "price" in data and price is None:
        errors["price"], parsed = AMOUNT_HINT, None
    if parsed is not None:
        created, problem = await attempt(
            session, lambda: scheduling.create_class(session, tenant.id, parsed)
        )
        if problem is None and created is not None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/classes?created=1", status_code=303)
        errors["form"] = problem.message if problem else "The class could not be added."
    return await _page(
        request,
        session,
        tenant,
        user,
        class_form=fields,
        errors={"class": errors, "series": {}},
        status_code=400,
    )


@router.post("/s/{slug}/admin/schedules", response_class=HTMLResponse)
async def create_series(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {
        k: str(form.get(k) or "").strip()
        for k in (
            "class_id",
            "local_start_time",
            "starts_on",
            "until",
        )
    }
    weekdays = [int(str(d)) for d in form.getlist("weekdays") if str(d).isdigit()]
    data: dict[str, Any] = {
        "class_id": fields["class_id"] or None,
        "local_start_time": fields["local_start_time"] or None,
        "recurrence": {
            "weekdays": weekdays,
            "starts_on": fields["starts_on"] or None,
            "until": fields["until"] or None,
            "count": None if fields["until"] else 52,
        },
    }
    parsed, errors = parse(ScheduleIn, data)
    if parsed is not None:
        horizon = request.app.state.settings.schedule_horizon_weeks
        created, problem = await attempt(
            session,
            lambda: series.create_schedule(session, tenant, parsed, horizon_weeks=horizon),
        )
        if problem is None and created is not None:
            # The week of the first new class, so the admin sees what was added.
            zone = ZoneInfo(tenant.timezone)
            first = (
                created.occurrences[0].start_time.astimezone(zone).date()
                if created.occurrences
                else datetime.now(zone).date()
            )
            return RedirectResponse(
                f"/s/{tenant.slug}/timetable?week={first.isoformat()}", status_code=303
            )
        errors["form"] = problem.message if problem else "The times could not be added."
    fields["weekdays"] = ",".join(str(d) for d in weekdays)
    return await _page(
        request,
        session,
        tenant,
        user,
        series_form=fields,
        errors={"class": {}, "series": errors},
        status_code=400,
    )


AMOUNT_HINT = "Enter an amount such as 120 or 120.50."


def cents(text: str) -> str | None:
    """A price typed as 120, 120.50, R1 800 or 1,800.00 into minor units, exactly (no
    float); None when it is not an amount."""
    compact = re.sub(r"^(ZAR|R|\$|€|£)", "", "".join(text.split()), flags=re.IGNORECASE)
    if compact.count(",") and compact.count("."):
        compact = compact.replace(",", "")  # 1,800.00
    whole, _, fraction = compact.replace(",", ".").partition(".")
    if not whole.isdigit() or (fraction and (not fraction.isdigit() or len(fraction) > 2)):
        return None
    return str(int(whole) * 100 + int((fraction + "00")[:2]))


@router.post("/s/{slug}/admin/occurrences/{occurrence_id}/cancel", response_class=HTMLResponse)
async def cancel_occurrence(
    request: Request, tenant: CurrentTenant, session: DbSession, occurrence_id: uuid.UUID
) -> Response:
    """Cancel one class: everyone booked gets their credits back and is told at once."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    reason = str(form.get("reason") or "").strip()[:500] or "Cancelled by the studio"
    _done, problem = await attempt(
        session, lambda: timetable.cancel_occurrence(session, occurrence_id, reason)
    )
    target = f"/s/{tenant.slug}/classes/{occurrence_id}"
    if problem is not None:
        return RedirectResponse(f"{target}?problem={problem.code}", status_code=303)
    return RedirectResponse(f"{target}?cancelled=1", status_code=303)


async def _edit_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    class_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    row = await scheduling.get_class(session, class_id, include_inactive=True)
    terms = await marketplace.terms_of(session, request.app.state.settings, tenant.id)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "cls": row,
        # What it costs on the marketplace, where a floor price can make it more.
        "marketplace_credits": pricing.credits_for(
            row.credits_required,
            pricing.Terms(terms.payout_rate, terms.commission_basis_points, terms.floor_price),
        ),
        "price": "" if row.price is None else f"{row.price // 100}.{row.price % 100:02d}",
        "errors": errors or {},
    }
    return render(request, "owner/class_edit.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/classes/{class_id}", response_class=HTMLResponse)
async def edit_class_page(
    request: Request, tenant: CurrentTenant, session: DbSession, class_id: uuid.UUID
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _edit_page(request, session, tenant, user, class_id)


@router.post("/s/{slug}/admin/classes/{class_id}", response_class=HTMLResponse)
async def edit_class(
    request: Request, tenant: CurrentTenant, session: DbSession, class_id: uuid.UUID
) -> Response:
    """Change a class. Occurrences already on the timetable keep their own capacity."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    data: dict[str, Any] = {
        k: str(form.get(k) or "").strip()
        for k in ("name", "class_type", "duration_minutes", "max_capacity", "credits_required")
    }
    price_text = str(form.get("price") or "").strip()
    price = cents(price_text) if price_text else None
    data["price"] = price
    data["is_active"] = bool(form.get("is_active"))
    data["is_private"] = bool(form.get("is_private"))
    # Empty: the marketplace may fill any free seat (null clears an earlier cap).
    data["marketplace_seats"] = str(form.get("marketplace_seats") or "").strip() or None
    parsed, errors = parse(ClassUpdate, data)
    if price_text and price is None:
        errors["price"], parsed = AMOUNT_HINT, None
    if parsed is not None:
        _row, problem = await attempt(
            session, lambda: scheduling.update_class(session, tenant.id, class_id, parsed)
        )
        if problem is None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/classes?saved=1", status_code=303)
        errors["form"] = problem.message
    return await _edit_page(
        request, session, tenant, user, class_id, errors=errors, status_code=400
    )


@router.post("/s/{slug}/admin/series/{series_id}", response_class=HTMLResponse)
async def change_series(
    request: Request, tenant: CurrentTenant, session: DbSession, series_id: uuid.UUID
) -> Response:
    """Move a weekly class to another time, or end it, from a date on. Classes people are
    booked into and that no longer happen are cancelled, with their credits given back."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    data: dict[str, Any] = {
        k: str(form.get(k) or "").strip() or None
        for k in ("apply_from", "local_start_time", "until")
    }
    data = {k: v for k, v in data.items() if v is not None}
    parsed, errors = parse(SeriesUpdate, data)
    if parsed is not None:
        horizon = request.app.state.settings.schedule_horizon_weeks
        _changed, problem = await attempt(
            session,
            lambda: series.update_series(session, tenant, series_id, parsed, horizon_weeks=horizon),
        )
        if problem is None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/classes?changed=1", status_code=303)
        errors["form"] = problem.message
    return await _page(
        request,
        session,
        tenant,
        user,
        errors={"class": {}, "series": {}, "change": errors},
        status_code=400,
    )
