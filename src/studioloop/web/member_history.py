"""A member's past classes and attendance, and their bookings in their own calendar: one
booking as an .ics file, or every booking through their private feed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import service as accounts
from studioloop.booking import calendar, reading as booking_reading
from studioloop.booking.schemas import BookingOut
from studioloop.db import tenancy
from studioloop.db.session import DbSession
from studioloop.tenants import service as tenants_service
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.member_pages import member_or_login
from studioloop.web.routes import render

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 180
HISTORY_LIMIT = 100


def attendance(booking: BookingOut) -> tuple[str, str]:
    """What became of a past booking, as (badge class, words)."""
    if booking.check_in_time is not None or booking.status == "completed":
        return "attended", "attended"
    if booking.status in ("no_show", "confirmed"):
        return "missed", "not checked in"
    if booking.status == "cancelled":
        who = "by the studio" if booking.cancelled_by_studio else "by you"
        late = " (late)" if booking.late_cancellation else ""
        return "cancelled", f"cancelled {who}{late}"
    if booking.status == "expired":
        return "expired", "hold expired, not paid"
    return booking.status, booking.status.replace("_", " ")


@router.get("/my/bookings/past", response_class=HTMLResponse)
async def past_bookings(request: Request, session: DbSession) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    now = datetime.now(UTC)
    entries: list[dict[str, Any]] = []
    for role in (await accounts.profile(session, user)).tenant_roles:
        zone = ZoneInfo((await tenants_service.get_tenant(session, role.tenant_id)).timezone)
        async with tenancy.scope(session, role.tenant_id):
            bookings = await booking_reading.list_bookings(
                session,
                user.id,
                status=None,
                start_from=now - timedelta(days=HISTORY_DAYS),
                start_to=now,
                limit=HISTORY_LIMIT,
            )
        for booking in bookings:
            if booking.status == "waitlisted":
                continue  # never had a place
            kind, words = attendance(booking)
            entries.append(
                {
                    "booking": booking,
                    "studio": role.tenant_name,
                    "local": booking.start_time.astimezone(zone).strftime("%a %d %b %Y %H:%M"),
                    "kind": kind,
                    "words": words,
                }
            )
    entries.sort(key=lambda e: e["booking"].start_time, reverse=True)
    attended = sum(1 for e in entries if e["kind"] == "attended")
    context = {
        "user": user,
        "entries": entries[:HISTORY_LIMIT],
        "attended": attended,
        "days": HISTORY_DAYS,
    }
    return render(request, "my/past.html", context)


@router.get("/my/bookings/{booking_id}/calendar.ics")
async def booking_calendar_file(
    request: Request, session: DbSession, booking_id: uuid.UUID
) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    booking = await booking_reading.visible_booking(session, user.id, booking_id, staff=None)
    page = f"{request.app.state.settings.base_url}/my/bookings/{booking.id}"
    body = await calendar.one_booking(session, booking, page)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="class-{booking.id}.ics"'},
    )


@router.get("/my/calendar", response_class=HTMLResponse)
async def calendar_page(request: Request, session: DbSession, reset: int = 0) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    url = calendar.feed_url(request.app.state.settings, user)
    webcal = "webcal://" + url.split("://", 1)[1]
    context = {"user": user, "feed_url": url, "webcal_url": webcal, "reset": bool(reset)}
    return render(request, "my/calendar.html", context)


@router.post("/my/calendar/reset", response_class=HTMLResponse)
async def calendar_reset(
    request: Request,
    session: DbSession,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    """A new private address; calendars subscribed to the old one stop updating."""
    check_csrf(request, csrf)
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    user.calendar_feed_version += 1
    await session.flush()
    return RedirectResponse("/my/calendar?reset=1", status_code=303)
