from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from studioloop.accounts.dependencies import OptionalUser, require_role
from studioloop.accounts.members import Membership, membership_of
from studioloop.core.errors import field_error
from studioloop.core.http import app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.pagination import Page
from studioloop.db.session import DbSession, ReadSession
from studioloop.scheduling import ics, schemas, series, service, timetable
from studioloop.scheduling.timetable import OccurrenceFilter
from studioloop.tenants.dependencies import CurrentTenant, ReadTenant

router = APIRouter(prefix=f"{API_PREFIX}/tenants/{{slug}}", tags=["scheduling"])
Admin = Annotated[Membership, Depends(require_role("admin"))]
ADMIN_ERRORS = errors(401, 403, 404, 409, 422)
MAX_RANGE = timedelta(days=93)


async def _is_staff(session: DbSession, tenant: CurrentTenant, user: OptionalUser) -> bool:
    if user is None:
        return False
    membership = await membership_of(session, tenant.id, user.id)
    return membership is not None and membership.allows("admin")


Staff = Annotated[bool, Depends(_is_staff)]


def _horizon(request: Request) -> int:
    weeks: int = request.app.state.settings.schedule_horizon_weeks
    return weeks


# --- locations and rooms -----------------------------------------------------------------


@router.get("/locations", response_model=list[schemas.LocationOut], responses=errors(404))
async def list_locations(
    tenant: CurrentTenant, session: DbSession, staff: Staff, include_inactive: bool = False
) -> list[schemas.LocationOut]:
    """The studio's locations and rooms (inactive ones for admins on request)."""
    return await service.list_locations(session, include_inactive=include_inactive and staff)


@router.post(
    "/locations",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.LocationOut,
    responses=ADMIN_ERRORS,
)
async def create_location(
    body: schemas.LocationIn,
    request: Request,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.LocationOut:
    """A place the studio teaches. Give its coordinates (the marketplace finds classes
    by distance), or only its address when the operator has set up a geocoder
    (GEOCODER_URL): the coordinates are then looked up."""
    location = await service.create_location(session, app_settings(request), tenant.id, body)
    return schemas.LocationOut.model_validate(location)


@router.patch(
    "/locations/{location_id}", response_model=schemas.LocationOut, responses=ADMIN_ERRORS
)
async def update_location(
    location_id: uuid.UUID,
    body: schemas.LocationUpdate,
    request: Request,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.LocationOut:
    location = await service.update_location(session, app_settings(request), location_id, body)
    return schemas.LocationOut.model_validate(location)


@router.post(
    "/locations/{location_id}/rooms",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RoomOut,
    responses=ADMIN_ERRORS,
)
async def create_room(
    location_id: uuid.UUID,
    body: schemas.RoomIn,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.RoomOut:
    return schemas.RoomOut.model_validate(
        await service.create_room(session, tenant.id, location_id, body)
    )


@router.patch("/rooms/{room_id}", response_model=schemas.RoomOut, responses=ADMIN_ERRORS)
async def update_room(
    room_id: uuid.UUID,
    body: schemas.RoomUpdate,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.RoomOut:
    return schemas.RoomOut.model_validate(await service.update_room(session, room_id, body))


# --- classes -----------------------------------------------------------------------------


@router.get("/classes", response_model=list[schemas.ClassOut], responses=errors(404, 422))
async def list_classes(
    tenant: CurrentTenant,
    session: DbSession,
    staff: Staff,
    include_inactive: bool = False,
    class_type: Annotated[str | None, Query(max_length=40)] = None,
) -> list[schemas.ClassOut]:
    """Active classes (public). Admins may add `include_inactive=true`."""
    return await service.list_classes(
        session, tenant, include_inactive=include_inactive and staff, class_type=class_type
    )


@router.post(
    "/classes",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ClassOut,
    responses=ADMIN_ERRORS,
)
async def create_class(
    body: schemas.ClassIn, tenant: CurrentTenant, _admin: Admin, session: DbSession
) -> schemas.ClassOut:
    return service.class_out(await service.create_class(session, tenant.id, body), tenant)


@router.get("/classes/{class_id}", response_model=schemas.ClassOut, responses=errors(404, 422))
async def get_class(
    class_id: uuid.UUID, tenant: CurrentTenant, session: DbSession, staff: Staff
) -> schemas.ClassOut:
    row = await service.get_class(session, class_id, include_inactive=staff)
    return service.class_out(row, tenant)


@router.patch("/classes/{class_id}", response_model=schemas.ClassOut, responses=ADMIN_ERRORS)
async def update_class(
    class_id: uuid.UUID,
    body: schemas.ClassUpdate,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.ClassOut:
    row = await service.update_class(session, tenant.id, class_id, body)
    return service.class_out(row, tenant)


@router.delete(
    "/classes/{class_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ADMIN_ERRORS
)
async def delete_class(
    class_id: uuid.UUID, tenant: CurrentTenant, _admin: Admin, session: DbSession
) -> None:
    """Delete a class and its occurrences; refused (409) while future bookings exist."""
    await service.delete_class(session, class_id)


# --- timetable ---------------------------------------------------------------------------


def _range(start_from: datetime | None, start_to: datetime | None) -> tuple[datetime, datetime]:
    start_from = start_from or datetime.now(UTC)
    try:
        start_to = start_to or start_from + timedelta(days=7)
    except OverflowError:
        raise field_error("from", "is past the last date we can show") from None
    if start_from.tzinfo is None or start_to.tzinfo is None:
        raise field_error("from", "give times with a UTC offset, e.g. 2026-11-23T00:00:00+02:00")
    if start_to <= start_from:
        raise field_error("to", "must be after from")
    if start_to - start_from > MAX_RANGE:
        raise field_error("to", "ask for at most 93 days at a time")
    return start_from, start_to


@router.get(
    "/schedules",
    response_model=Page[schemas.OccurrenceOut],
    responses=errors(404, 422),
    response_model_by_alias=True,
)
async def list_schedules(
    tenant: ReadTenant,
    session: ReadSession,
    start_from: Annotated[datetime | None, Query(alias="from")] = None,
    start_to: Annotated[datetime | None, Query(alias="to")] = None,
    class_type: Annotated[str | None, Query(max_length=40)] = None,
    instructor_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    class_id: uuid.UUID | None = None,
    include_cancelled: bool = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[schemas.OccurrenceOut]:
    """Occurrences between `from` and `to` (default: the next 7 days) with class, instructor
    and place, and live `available_spots`. May be read from the read replica, so up to
    REPLICA_MAX_LAG_SECONDS (+1 s) behind the latest change when one is configured."""
    start, end = _range(start_from, start_to)
    items, next_cursor = await timetable.list_occurrences(
        session,
        OccurrenceFilter(
            start, end, class_type, instructor_id, location_id, class_id, include_cancelled
        ),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.CreatedSchedule,
    responses=ADMIN_ERRORS,
    response_model_by_alias=True,
)
async def create_schedule(
    body: schemas.ScheduleIn,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
    request: Request,
) -> schemas.CreatedSchedule:
    """One occurrence (`start_time`), or a weekly series (`local_start_time` +
    `recurrence`) in the studio's time zone. Overlaps: 409 `SCHEDULE_CONFLICT`."""
    return await series.create_schedule(session, tenant, body, horizon_weeks=_horizon(request))


@router.get(
    "/schedules/{schedule_id}",
    response_model=schemas.OccurrenceOut,
    responses=errors(404, 422),
    response_model_by_alias=True,
)
async def get_schedule(
    schedule_id: uuid.UUID, tenant: CurrentTenant, session: DbSession
) -> schemas.OccurrenceOut:
    return await timetable.get_occurrence(session, schedule_id)


@router.patch(
    "/schedules/{schedule_id}",
    response_model=schemas.OccurrenceOut,
    responses=ADMIN_ERRORS,
    response_model_by_alias=True,
)
async def update_schedule(
    schedule_id: uuid.UUID,
    body: schemas.OccurrenceUpdate,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.OccurrenceOut:
    """Edit one occurrence (time, instructor, substitute, room, capacity, windows)."""
    return await timetable.update_occurrence(session, tenant, schedule_id, body)


@router.post(
    "/schedules/{schedule_id}/cancel",
    response_model=schemas.OccurrenceOut,
    responses=ADMIN_ERRORS,
    response_model_by_alias=True,
)
async def cancel_schedule(
    schedule_id: uuid.UUID,
    body: schemas.CancelRequest,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.OccurrenceOut:
    return await timetable.cancel_occurrence(session, schedule_id, body.reason)


@router.get(
    "/schedule-series/{series_id}", response_model=schemas.SeriesOut, responses=errors(404, 422)
)
async def get_series(
    series_id: uuid.UUID, tenant: CurrentTenant, session: DbSession
) -> schemas.SeriesOut:
    return series.series_out(await series.get_series(session, series_id))


@router.patch(
    "/schedule-series/{series_id}",
    response_model=schemas.CreatedSchedule,
    responses=ADMIN_ERRORS,
    response_model_by_alias=True,
)
async def update_series(
    series_id: uuid.UUID,
    body: schemas.SeriesUpdate,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
    request: Request,
) -> schemas.CreatedSchedule:
    """Change the series from `apply_from` on (occurrences edited on their own are kept)."""
    return await series.update_series(
        session, tenant, series_id, body, horizon_weeks=_horizon(request)
    )


@router.get(
    "/schedule.ics",
    response_class=Response,
    responses=errors(404),
    summary="The timetable as an iCalendar feed (past week and next 8 weeks)",
)
async def timetable_ics(tenant: ReadTenant, session: ReadSession, request: Request) -> Response:
    now = datetime.now(UTC)
    filters = OccurrenceFilter(now - timedelta(days=7), now + timedelta(weeks=8))
    occurrences: list[schemas.OccurrenceOut] = []
    cursor = None
    while True:
        page, cursor = await timetable.list_occurrences(session, filters, limit=200, cursor=cursor)
        occurrences.extend(page)
        if cursor is None:
            break
    body = ics.timetable_calendar(
        tenant.name, tenant.slug, request.app.state.settings.base_url, occurrences
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{tenant.slug}.ics"'},
    )
