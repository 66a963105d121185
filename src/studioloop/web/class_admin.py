"""One class for its admins: its details (teacher, level, place), and its upcoming dates,
each with its roster and what may be done to that date (cancel it, send a substitute)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.booking import reading
from studioloop.db.session import DbSession
from studioloop.marketplace import pricing, service as marketplace
from studioloop.scheduling import exceptions as scheduling_errors, service as scheduling, timetable
from studioloop.scheduling.schemas import CancelRequest, ClassUpdate, OccurrenceUpdate
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.class_forms import LEVELS, NO_PLACE_HINT, place_values, places, teachers
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context
from studioloop.web.timetable_admin import AMOUNT_HINT, cents, field_problem

router = APIRouter(include_in_schema=False)
UPCOMING_WEEKS = 8
UPCOMING_DATES = 10
SEATED = ("confirmed", "held", "completed", "no_show")
NOTICES = {
    "cancelled": "The date is cancelled. Everyone booked is told and gets their credits back.",
    "substituted": "The teacher for that date is changed. Everyone booked is told.",
}


async def _dates(session: DbSession, class_id: uuid.UUID) -> list[dict[str, Any]]:
    """The class's next dates, each with its roster, as the services read them."""
    now = datetime.now(UTC)
    found, _ = await timetable.list_occurrences(
        session,
        timetable.OccurrenceFilter(
            start_from=now, start_to=now + timedelta(weeks=UPCOMING_WEEKS), class_id=class_id
        ),
        limit=UPCOMING_DATES,
        cursor=None,
    )
    dates = []
    for occurrence in found:
        roster = await reading.roster(session, occurrence.id)
        dates.append(
            {
                "occurrence": occurrence,
                "roster": roster,
                "booked": sum(1 for r in roster if r["status"] in SEATED),
                "waitlisted": sum(1 for r in roster if r["status"] == "waitlisted"),
                "checked_in": sum(1 for r in roster if r["check_in_time"] is not None),
            }
        )
    return dates


async def _edit_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    class_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    date_errors: dict[uuid.UUID, dict[str, str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    row = await scheduling.get_class(session, class_id, include_inactive=True)
    terms = await marketplace.terms_of(session, request.app.state.settings, tenant.id)
    dates = await _dates(session, class_id)
    listed = {d["occurrence"].id for d in dates}
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
        "teachers": await teachers(session, tenant),
        "locations": await places(session),
        "levels": LEVELS,
        "no_place_hint": NO_PLACE_HINT,
        "dates": dates,
        "errors": errors or {},
        "date_errors": date_errors or {},
        # A refusal about a date this page does not list (another class's, or none).
        "dates_error": next(
            (e.get("form") for k, e in (date_errors or {}).items() if k not in listed), None
        ),
        "notice": notice,
    }
    return render(request, "owner/class_edit.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/classes/{class_id}", response_class=HTMLResponse)
async def edit_class_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    class_id: uuid.UUID,
    done: str = "",
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = NOTICES.get(done)
    return await _edit_page(request, session, tenant, user, class_id, notice=notice)


@router.post("/s/{slug}/admin/classes/{class_id}", response_class=HTMLResponse)
async def edit_class(
    request: Request, tenant: CurrentTenant, session: DbSession, class_id: uuid.UUID
) -> Response:
    """Change a class. Occurrences already on the timetable keep their own capacity, teacher
    and place; new times take the class's."""
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
    # The pickers change only what the form sent; an empty choice clears it.
    if "instructor_id" in form:
        data["instructor_id"] = str(form.get("instructor_id") or "").strip() or None
    if "difficulty_level" in form:
        data["difficulty_level"] = str(form.get("difficulty_level") or "").strip()
    if "location_id" in form or "room_id" in form:
        data.update(place_values(form))
    parsed, errors = parse(ClassUpdate, data)
    if price_text and price is None:
        errors["price"], parsed = AMOUNT_HINT, None
    if parsed is not None:
        _row, problem = await attempt(
            session, lambda: scheduling.update_class(session, tenant.id, class_id, parsed)
        )
        if problem is None:
            return RedirectResponse(f"/s/{tenant.slug}/admin/classes?saved=1", status_code=303)
        errors.update(field_problem(problem, "The class could not be saved."))
    return await _edit_page(
        request, session, tenant, user, class_id, errors=errors, status_code=400
    )


async def _date_of(session: DbSession, class_id: uuid.UUID, occurrence_id: uuid.UUID) -> str | None:
    """Why this date cannot be changed from this class's page, or None when it can."""
    try:
        occurrence = await timetable.get_occurrence(session, occurrence_id)
    except scheduling_errors.ScheduleNotFound:
        return "That date is not on the timetable."
    if occurrence.cls.id != class_id:
        return "That date belongs to another class."
    return None


async def _date_action(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    class_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    errors: dict[str, str],
    done: str,
) -> Response:
    if not errors:
        return RedirectResponse(
            f"/s/{tenant.slug}/admin/classes/{class_id}?done={done}#date-{occurrence_id}",
            status_code=303,
        )
    return await _edit_page(
        request,
        session,
        tenant,
        user,
        class_id,
        date_errors={occurrence_id: errors},
        status_code=400,
    )


@router.post(
    "/s/{slug}/admin/classes/{class_id}/dates/{occurrence_id}/cancel",
    response_class=HTMLResponse,
)
async def cancel_date(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    class_id: uuid.UUID,
    occurrence_id: uuid.UUID,
) -> Response:
    """Cancel one date with a reason: the booked are told it and get their credits back."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    await scheduling.get_class(session, class_id, include_inactive=True)
    wrong = await _date_of(session, class_id, occurrence_id)
    errors: dict[str, str] = {"form": wrong} if wrong else {}
    parsed, problems = parse(CancelRequest, {"reason": str(form.get("reason") or "")})
    if not errors and parsed is None:
        errors = {"reason": problems.get("reason", "Say why, in a few words.")}
        errors["form"] = "Say why the class is cancelled: members are told."
    if not errors and parsed is not None:
        _done, problem = await attempt(
            session, lambda: timetable.cancel_occurrence(session, occurrence_id, parsed.reason)
        )
        if problem is not None:
            errors = {"form": problem.message}
    return await _date_action(
        request, session, tenant, user, class_id, occurrence_id, errors, "cancelled"
    )


@router.post(
    "/s/{slug}/admin/classes/{class_id}/dates/{occurrence_id}/substitute",
    response_class=HTMLResponse,
)
async def substitute_date(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    class_id: uuid.UUID,
    occurrence_id: uuid.UUID,
) -> Response:
    """Someone else teaches one date (or, with no one chosen, the usual teacher again)."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    await scheduling.get_class(session, class_id, include_inactive=True)
    wrong = await _date_of(session, class_id, occurrence_id)
    errors: dict[str, str] = {"form": wrong} if wrong else {}
    if "substitute_instructor_id" not in form and not errors:
        errors = {"form": "Choose who teaches instead."}
    chosen = str(form.get("substitute_instructor_id") or "").strip() or None
    parsed, problems = parse(OccurrenceUpdate, {"substitute_instructor_id": chosen})
    if not errors and parsed is None:
        errors = {"substitute_instructor_id": "Choose one from the list.", **problems}
        errors["form"] = "Choose who teaches instead."
    if not errors and parsed is not None:
        _done, problem = await attempt(
            session,
            lambda: timetable.update_occurrence(session, tenant, occurrence_id, parsed),
        )
        if problem is not None:
            errors = field_problem(problem, "The teacher could not be changed.")
    return await _date_action(
        request, session, tenant, user, class_id, occurrence_id, errors, "substituted"
    )


@router.post("/s/{slug}/admin/occurrences/{occurrence_id}/cancel", response_class=HTMLResponse)
async def cancel_occurrence(
    request: Request, tenant: CurrentTenant, session: DbSession, occurrence_id: uuid.UUID
) -> Response:
    """Cancel one class from its public page: everyone booked gets their credits back and is
    told at once."""
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
