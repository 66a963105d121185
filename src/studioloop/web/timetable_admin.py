"""Admins set up classes and their weekly timetable from the web, without the API."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from studioloop.accounts.models import User
from studioloop.db.session import DbSession
from studioloop.scheduling import series, service as scheduling
from studioloop.scheduling.models import ScheduleSeries
from studioloop.scheduling.schemas import ClassIn, CreatedSchedule, ScheduleIn, SeriesUpdate
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.class_forms import LEVELS, NO_PLACE_HINT, place_values, places, teachers
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NO_ERRORS: dict[str, dict[str, str]] = {"class": {}, "series": {}, "date": {}, "change": {}}


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    class_form: dict[str, Any] | None = None,
    series_form: dict[str, Any] | None = None,
    date_form: dict[str, Any] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    notice: str | None = None,
    added: tuple[int, date] | None = None,
    status_code: int = 200,
) -> Response:
    classes = await scheduling.list_classes(session, tenant, include_inactive=True, class_type=None)
    weekly = list(
        await session.scalars(
            select(ScheduleSeries).order_by(
                ScheduleSeries.class_id, ScheduleSeries.local_start_time
            )
        )
    )
    names = {c.id: c.name for c in classes}
    today = datetime.now(ZoneInfo(tenant.timezone)).date()
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "classes": classes,
        "weekdays": list(enumerate(WEEKDAYS)),
        "teachers": await teachers(session, tenant),
        "locations": await places(session),
        "no_place_hint": NO_PLACE_HINT,
        "series": [
            (s, names.get(s.class_id, "?"), ", ".join(WEEKDAYS[d] for d in s.weekdays))
            for s in weekly
        ],
        "levels": LEVELS,
        "class_form": class_form
        or {"duration_minutes": "60", "max_capacity": "12", "credits_required": "1"},
        "series_form": series_form or {"starts_on": today.isoformat(), "local_start_time": "06:30"},
        "date_form": date_form or {"on": today.isoformat(), "at": "06:30"},
        "errors": {**NO_ERRORS, **(errors or {})},
        "notice": notice,
        "added": added,
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
    added: int = 0,
    first: str = "",
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = "The class is added. Now give it weekly times or a date." if created else None
    if changed:
        notice = "The weekly times are changed."
    if saved:
        notice = "The class is saved."
    try:
        confirmed = (added, date.fromisoformat(first)) if added > 0 else None
    except ValueError:
        confirmed = None
    return await _page(request, session, tenant, user, notice=notice, added=confirmed)


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
            "location_id",
            "room_id",
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
        errors.update(field_problem(problem, "The class could not be added."))
    return await _page(
        request,
        session,
        tenant,
        user,
        class_form=fields,
        errors={"class": errors},
        status_code=400,
    )


def field_problem(problem: Any, fallback: str) -> dict[str, str]:
    """A service's refusal as the form's errors: by its field when it names one."""
    if problem is None:
        return {"form": fallback}
    details = getattr(problem, "details", None)
    named = details.get("fields") if isinstance(details, dict) else None
    if isinstance(named, list) and named and isinstance(named[0], dict):
        field, text = str(named[0].get("field")), str(named[0].get("message") or "")
        words = (text[:1].upper() + text[1:]).rstrip(".") + "."
        return {field: words, "form": "Please check the marked field."}
    return {"form": problem.message}


def _added(tenant: TenantRef, created: CreatedSchedule) -> Response:
    """Back to the admin page, which confirms how many dates were added and from when."""
    zone = ZoneInfo(tenant.timezone)
    first = (
        created.occurrences[0].start_time.astimezone(zone).date()
        if created.occurrences
        else datetime.now(zone).date()
    )
    return RedirectResponse(
        f"/s/{tenant.slug}/admin/classes?added={len(created.occurrences)}"
        f"&first={first.isoformat()}#added",
        status_code=303,
    )


@router.post("/s/{slug}/admin/schedules", response_class=HTMLResponse)
async def create_series(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {
        k: str(form.get(k) or "").strip()
        for k in ("class_id", "local_start_time", "starts_on", "until")
    }
    place = place_values(form, "series_")
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
        **place,
    }
    parsed, errors = parse(ScheduleIn, data)
    if parsed is not None:
        horizon = request.app.state.settings.schedule_horizon_weeks
        created, problem = await attempt(
            session,
            lambda: series.create_schedule(session, tenant, parsed, horizon_weeks=horizon),
        )
        if problem is None and created is not None:
            return _added(tenant, created)
        errors.update(field_problem(problem, "The times could not be added."))
    fields["weekdays"] = ",".join(str(d) for d in weekdays)
    fields.update({f"series_{k}": v or "" for k, v in place.items()})
    return await _page(
        request,
        session,
        tenant,
        user,
        series_form=fields,
        errors={"series": _prefixed(errors, "series_")},
        status_code=400,
    )


def _prefixed(errors: dict[str, str], prefix: str) -> dict[str, str]:
    """The place pickers' errors under the ids they have in this form."""
    return {(prefix + k if k in ("location_id", "room_id") else k): v for k, v in errors.items()}


@router.post("/s/{slug}/admin/dates", response_class=HTMLResponse)
async def create_date(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """One class on one day (a workshop, an extra class), at a time on the studio's clock."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {k: str(form.get(k) or "").strip() for k in ("date_class_id", "on", "at")}
    place = place_values(form, "date_")
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(fields["on"])
    except ValueError:
        errors["on"] = "Enter a date." if fields["on"] else "Fill this in."
    try:
        clock = time.fromisoformat(fields["at"])
    except ValueError:
        errors["at"] = "Enter a time such as 06:30." if fields["at"] else "Fill this in."
    start = None if errors else datetime.combine(day, clock, ZoneInfo(tenant.timezone))
    data = {"class_id": fields["date_class_id"] or None, "start_time": start, **place}
    parsed, problems = parse(ScheduleIn, data) if not errors else (None, {})
    errors.update({("date_class_id" if k == "class_id" else k): v for k, v in problems.items()})
    if parsed is not None:
        horizon = request.app.state.settings.schedule_horizon_weeks
        created, problem = await attempt(
            session,
            lambda: series.create_schedule(session, tenant, parsed, horizon_weeks=horizon),
        )
        if problem is None and created is not None:
            return _added(tenant, created)
        problems = field_problem(problem, "The date could not be added.")
        errors.update({("date_class_id" if k == "class_id" else k): v for k, v in problems.items()})
    fields.update({f"date_{k}": v or "" for k, v in place.items()})
    return await _page(
        request,
        session,
        tenant,
        user,
        date_form=fields,
        errors={"date": _prefixed(errors, "date_")},
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
    return await _page(request, session, tenant, user, errors={"change": errors}, status_code=400)
