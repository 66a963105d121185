from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from studioloop.accounts.dependencies import CurrentUser, require_role
from studioloop.accounts.exceptions import InsufficientRole
from studioloop.accounts.members import Membership, membership_of
from studioloop.booking import checkin, qr
from studioloop.booking.schemas import BatchIn
from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants.dependencies import CurrentTenant, OptionalTenant

router = APIRouter(prefix=API_PREFIX, tags=["check-in"])
Instructor = Annotated[Membership, Depends(require_role("instructor"))]
ERRORS = errors(400, 401, 403, 404, 409, 422)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=6,
        max_length=1000,
        description="The scanned QR text, or the booking's six-character short code "
        "(only under /tenants/{slug}: it does not name its studio)",
    )


class CheckinOut(BaseModel):
    result: str = Field(description="checked_in, or already_checked_in for a repeat scan")
    booking_id: uuid.UUID
    occurrence_id: uuid.UUID
    check_in_time: datetime


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _out(done: checkin.CheckinResult) -> CheckinOut:
    return CheckinOut(
        result=done.result,
        booking_id=done.booking_id,
        occurrence_id=done.occurrence_id,
        check_in_time=done.check_in_time,
    )


async def check_in_booking(
    booking_id: uuid.UUID, tenant: CurrentTenant, _staff: Instructor, session: DbSession
) -> CheckinOut:
    """Check a booking in by id (instructors and above)."""
    return _out(await checkin.check_in(session, booking_id))


async def check_in_code(
    body: CodeIn, request: Request, tenant: OptionalTenant, user: CurrentUser, session: DbSession
) -> CheckinOut:
    """Check in by the scanned code. The studio is the request's, or the code's own."""
    settings = _settings(request)
    if tenant is None and qr.normalise_short_code(body.code) is not None:
        raise checkin.CheckinRefused(
            "A short code is checked at its studio: POST /tenants/{slug}/checkin.",
            code="STUDIO_NEEDED",
        )
    if tenant is None:
        try:
            tenant_id = qr.read(settings, body.code, allow_expired=True).tenant_id
        except qr.InvalidCode as error:
            raise checkin.CheckinRefused(
                "This is not a valid StudioLoop check-in code.", code="INVALID_CODE"
            ) from error
        await enter_tenant_for_transaction(session, tenant_id)
    else:
        tenant_id = tenant.id
    membership = await membership_of(session, tenant_id, user.id)
    if membership is None or not membership.allows("instructor"):
        raise InsufficientRole(details={"required_role": "instructor"})
    booking_id = await checkin.booking_for_code(session, settings, tenant_id, body.code)
    return _out(await checkin.check_in(session, booking_id))


async def offline_roster(
    tenant: CurrentTenant,
    _staff: Instructor,
    session: DbSession,
    request: Request,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> dict[str, Any]:
    """Today's (or `date`'s) classes and bookings with the studio's public key, so a door
    device can verify codes without a connection."""
    from zoneinfo import ZoneInfo

    day = day or datetime.now(ZoneInfo(tenant.timezone)).date()
    return await checkin.offline_roster(
        session, _settings(request), tenant.id, tenant.timezone, day
    )


async def upload_scans(
    body: BatchIn,
    tenant: CurrentTenant,
    staff: Instructor,
    user: CurrentUser,
    session: DbSession,
    request: Request,
) -> dict[str, Any]:
    """Scans made offline. Each nonce is applied once; the answer lists what happened to
    every scan (checked_in, already_checked_in, duplicate, or rejected with a code)."""
    if len({scan.nonce for scan in body.scans}) != len(body.scans):
        raise field_error("scans", "every scan needs its own nonce")
    results = []
    for scan in sorted(body.scans, key=lambda s: s.scanned_at):
        async with session.begin_nested():
            results.append(
                await checkin.apply_offline_scan(
                    session,
                    _settings(request),
                    tenant.id,
                    user,
                    device_id=body.device_id,
                    nonce=scan.nonce,
                    code=scan.code,
                    scanned_at=scan.scanned_at.astimezone(UTC),
                )
            )
    return {"device_id": body.device_id, "results": results}


async def attendance(
    schedule_id: uuid.UUID, tenant: CurrentTenant, _staff: Instructor, session: DbSession
) -> dict[str, int]:
    """Booked, checked in, waitlisted, no-show and cancelled counts for one occurrence."""
    return await checkin.attendance(session, schedule_id)


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/bookings/{{booking_id}}/checkin",
        check_in_booking,
        methods=["POST"],
        response_model=CheckinOut,
        responses=ERRORS,
    )
    router.add_api_route(
        f"{prefix}/checkin",
        check_in_code,
        methods=["POST"],
        response_model=CheckinOut,
        responses=ERRORS,
    )
    router.add_api_route(
        f"{prefix}/checkin/batch", upload_scans, methods=["POST"], responses=ERRORS
    )
router.add_api_route(
    "/tenants/{slug}/checkin/roster", offline_roster, methods=["GET"], responses=ERRORS
)
router.add_api_route(
    "/tenants/{slug}/schedules/{schedule_id}/attendance",
    attendance,
    methods=["GET"],
    responses=ERRORS,
)
