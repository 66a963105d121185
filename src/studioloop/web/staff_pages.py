"""The door: today's classes with their rosters, and checking people in by scanning their
code with the camera or typing it. Offline, the page verifies codes itself with the
studio's public key and queues the scans, which go up through the batch endpoint later.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from studioloop.accounts.models import User
from studioloop.booking import checkin
from studioloop.booking.models import Booking
from studioloop.booking.schemas import BatchIn
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt
from studioloop.web.routes import render
from studioloop.web.staff_access import staff_of
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)


async def _staff(
    request: Request, session: DbSession, tenant: TenantRef
) -> tuple[User | None, Response | None]:
    return await staff_of(request, session, tenant, "instructor")


async def _today(request: Request, session: DbSession, tenant: TenantRef) -> dict[str, Any]:
    roster = await _door_roster(request, session, tenant)
    zone = ZoneInfo(tenant.timezone)
    for occurrence in roster["occurrences"]:
        start = datetime.fromisoformat(occurrence["start_time"]).astimezone(zone)
        occurrence["local_time"] = start.strftime("%H:%M")
        occurrence["bookings"] = [b for b in occurrence["bookings"] if b["status"] != "cancelled"]
        booked = [b for b in occurrence["bookings"] if b["status"] == "confirmed"]
        occurrence["booked"] = len(booked)
        occurrence["checked_in"] = sum(1 for b in booked if b["check_in_time"])
    return roster


# The door shows today's classes and, late in the evening, those starting in the next
# hours after midnight: their check-in opens before the day turns.
DOOR_LOOKAHEAD = timedelta(hours=3)


async def _door_roster(request: Request, session: DbSession, tenant: TenantRef) -> dict[str, Any]:
    now = datetime.now(ZoneInfo(tenant.timezone))
    return await checkin.offline_roster(
        session,
        request.app.state.settings,
        tenant.id,
        tenant.timezone,
        now.date(),
        until=now + DOOR_LOOKAHEAD,
    )


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "roster": await _today(request, session, tenant),
        "result": result,
    }
    return render(request, "staff/checkin.html", context, status_code=status_code)


@router.get("/s/{slug}/staff/checkin", response_class=HTMLResponse)
async def checkin_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await _staff(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _page(request, session, tenant, user)


@router.post("/s/{slug}/staff/checkin", response_class=HTMLResponse)
async def checkin_submit(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    code: Annotated[str, Form(max_length=2000)] = "",
    booking_id: Annotated[uuid.UUID | None, Form()] = None,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    """Check in by the scanned or typed code, or (a tap on the roster) by the booking."""
    check_csrf(request, csrf)
    user, refused = await _staff(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    settings = request.app.state.settings

    async def scan() -> checkin.CheckinResult:
        if booking_id is not None:
            return await checkin.check_in(session, booking_id)
        if not code.strip():
            raise checkin.CheckinRefused(
                "Scan a code, or type the code under the member's QR.", code="NO_CODE"
            )
        found = await checkin.booking_for_code(session, settings, tenant.id, code)
        return await checkin.check_in(session, found)

    done, problem = await attempt(session, scan)
    if problem is not None or done is None:
        return await _page(
            request, session, tenant, user, _refusal(problem, tenant), status_code=409
        )
    name = await _name_of(session, done.booking_id)
    zone = ZoneInfo(tenant.timezone)
    if done.result == "already_checked_in":
        at = done.check_in_time.astimezone(zone).strftime("%H:%M")
        message = f"{name} was already checked in at {at}."
    else:
        message = f"{name} is checked in."
    return await _page(request, session, tenant, user, {"ok": True, "message": message})


def _refusal(problem: Any, tenant: TenantRef) -> dict[str, Any]:
    message = problem.message if problem else "Not checked in."
    opens = (problem.details or {}).get("opens_at") if problem else None
    if isinstance(opens, str):
        at = datetime.fromisoformat(opens).astimezone(ZoneInfo(tenant.timezone))
        message += f" It opens at {at.strftime('%H:%M')}."
    return {"ok": False, "message": message}


async def _name_of(session: DbSession, booking_id: Any) -> str:
    booking = await session.get(Booking, booking_id)
    person = await session.get(User, booking.user_id) if booking else None
    return f"{person.first_name} {person.last_name}" if person else "This member"


@router.get("/s/{slug}/staff/checkin/roster.json")
async def roster_json(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """What the page keeps for working offline: today's rosters and the public key."""
    user, refused = await _staff(request, session, tenant)
    if refused is not None or user is None:
        return JSONResponse({"error": "staff only"}, status_code=403)
    roster = await _door_roster(request, session, tenant)
    return JSONResponse(roster, headers={"Cache-Control": "no-store"})


@router.post("/s/{slug}/staff/checkin/batch")
async def upload_batch(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Scans made offline, sent when the page is back online (CSRF token in a header)."""
    check_csrf(request, request.headers.get("x-csrf-token"))
    user, refused = await _staff(request, session, tenant)
    if refused is not None or user is None:
        return JSONResponse({"error": "staff only"}, status_code=403)
    try:
        body = BatchIn.model_validate_json(await request.body())
    except ValidationError as error:
        return JSONResponse(
            {
                "error": "invalid batch",
                "details": error.errors(include_url=False, include_context=False),
            },
            status_code=422,
        )
    if len({scan.nonce for scan in body.scans}) != len(body.scans):
        return JSONResponse({"error": "every scan needs its own nonce"}, status_code=422)
    results = []
    for scan in sorted(body.scans, key=lambda s: s.scanned_at):
        async with session.begin_nested():
            results.append(
                await checkin.apply_offline_scan(
                    session,
                    request.app.state.settings,
                    tenant.id,
                    user,
                    device_id=body.device_id,
                    nonce=scan.nonce,
                    code=scan.code,
                    scanned_at=scan.scanned_at.astimezone(UTC),
                )
            )
    return JSONResponse({"device_id": body.device_id, "results": results})
