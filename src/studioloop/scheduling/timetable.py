"""The timetable: class occurrences, weekly series, edits, cancellations, listings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from studioloop.accounts.models import User
from studioloop.core.errors import field_error
from studioloop.core.pagination import (
    cursor_datetime,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
)
from studioloop.core.patching import apply_changes
from studioloop.scheduling import exceptions as exc, hooks
from studioloop.scheduling.models import (
    ClassSchedule,
    ClassTemplate,
    Location,
    Room,
    ScheduleSeries,
)
from studioloop.scheduling.recurrence import WeeklyRule
from studioloop.scheduling.schemas import (
    ClassSummary,
    CreatedSchedule,
    OccurrenceOut,
    OccurrenceUpdate,
    PersonSummary,
    PlaceSummary,
    ScheduleIn,
    SeriesOut,
    SeriesUpdate,
)
from studioloop.scheduling.service import check_instructor, check_place, check_room_capacity
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.models import Tenant

DEFAULT_BOOKING_WINDOW_HOURS = 168
DEFAULT_CANCELLATION_WINDOW_HOURS = 24
EXCLUSION_VIOLATION = "23P01"
# Fields a PATCH of one occurrence may clear with null.
OCCURRENCE_NULLABLE = frozenset(
    {
        "substitute_instructor_id",
        "instructor_id",
        "location_id",
        "room_id",
        "booking_window_hours",
        "cancellation_window_hours",
    }
)
TIMETABLE_LOCK = 7401  # advisory-lock namespace for "a studio's timetable"


async def lock_timetable(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise timetable writes of one studio for the rest of the transaction.

    The exclusion constraints decide what may overlap; this lock only stops two concurrent
    writers from checking those two constraints in opposite orders and deadlocking, so the
    loser gets a clean 409 instead of a deadlock error. Writes are rare; reads never wait.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, hashtext(:tenant))"),
        {"space": TIMETABLE_LOCK, "tenant": str(tenant_id)},
    )


# --- creating ----------------------------------------------------------------------------


async def create_schedule(
    session: AsyncSession, tenant: TenantRef, data: ScheduleIn, *, horizon_weeks: int
) -> CreatedSchedule:
    template = await session.get(ClassTemplate, data.class_id)
    if template is None:
        raise field_error("class_id", "is not a class of this studio")
    await lock_timetable(session, tenant.id)
    instructor_id = data.instructor_id or template.instructor_id
    await check_instructor(session, tenant.id, instructor_id, "instructor_id")
    location_id, room = await check_place(
        session, data.location_id or template.location_id, data.room_id or template.room_id
    )
    capacity = data.capacity or template.max_capacity
    check_room_capacity(room, capacity)
    duration = data.duration_minutes or template.duration_minutes
    common: dict[str, Any] = {
        "tenant_id": tenant.id,
        "class_id": template.id,
        "instructor_id": instructor_id,
        "location_id": location_id,
        "room_id": room.id if room else None,
        "capacity": capacity,
        "booking_window_hours": data.booking_window_hours,
        "cancellation_window_hours": data.cancellation_window_hours,
    }
    if data.start_time is not None:
        start = data.start_time.astimezone(UTC)
        occurrence = ClassSchedule(
            **common, start_time=start, end_time=start + timedelta(minutes=duration)
        )
        await _insert_all(session, [occurrence])
        return CreatedSchedule(series=None, occurrences=await _outs(session, [occurrence.id]))

    assert data.recurrence is not None and data.local_start_time is not None
    recurrence = data.recurrence
    series = ScheduleSeries(
        tenant_id=tenant.id,
        class_id=template.id,
        weekdays=recurrence.weekdays,
        local_start_time=data.local_start_time,
        duration_minutes=duration,
        timezone=tenant.timezone,
        starts_on=recurrence.starts_on,
        until_date=recurrence.until,
        occurrence_count=recurrence.count,
        instructor_id=instructor_id,
        location_id=location_id,
        room_id=common["room_id"],
        capacity=capacity,
    )
    session.add(series)
    await session.flush()
    created = await materialise(
        session, series, through=_horizon(tenant, horizon_weeks), on_conflict="raise", extra=common
    )
    return CreatedSchedule(series=series_out(series), occurrences=await _outs(session, created))


def _horizon(tenant: TenantRef, weeks: int) -> date:
    return datetime.now(ZoneInfo(tenant.timezone)).date() + timedelta(weeks=weeks)


def rule_of(series: ScheduleSeries) -> WeeklyRule:
    return WeeklyRule(
        weekdays=tuple(series.weekdays),
        local_start_time=series.local_start_time,
        duration_minutes=series.duration_minutes,
        timezone=series.timezone,
        starts_on=series.starts_on,
        until=series.until_date,
        count=series.occurrence_count,
    )


async def materialise(
    session: AsyncSession,
    series: ScheduleSeries,
    *,
    through: date,
    on_conflict: str,
    extra: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """Create the series' occurrence rows up to the local date `through`.

    `on_conflict="raise"` (an admin creating the series) refuses the whole series and names
    every clashing date; `"skip"` (the periodic job) leaves a clashing date out.
    """
    start_from = (
        series.materialised_through + timedelta(days=1)
        if series.materialised_through
        else series.starts_on
    )
    base = extra or {
        "tenant_id": series.tenant_id,
        "class_id": series.class_id,
        "instructor_id": series.instructor_id,
        "location_id": series.location_id,
        "room_id": series.room_id,
        "capacity": series.capacity,
    }
    rows = [
        ClassSchedule(**base, series_id=series.id, series_date=day, start_time=start, end_time=end)
        for day, start, end in rule_of(series).occurrences(start_from, through)
    ]
    clashes = await _insert_all(session, rows, collect_conflicts=True)
    if clashes and on_conflict == "raise":
        raise exc.ScheduleConflict(details={"conflicting_dates": [str(d) for d in clashes]})
    last = rule_of(series).last_date()
    series.materialised_through = min(through, last) if last else through
    await session.flush()
    return [row.id for row in rows if row.series_date not in clashes]


async def _insert_all(
    session: AsyncSession, rows: Sequence[ClassSchedule], *, collect_conflicts: bool = False
) -> list[date | None]:
    """Insert each row in its own savepoint, so every clash can be named (or skipped)."""
    clashes: list[date | None] = []
    for row in rows:
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) != EXCLUSION_VIOLATION:
                raise
            if not collect_conflicts:
                raise exc.ScheduleConflict(details=_conflict_kind(error)) from error
            clashes.append(row.series_date)
    return clashes


def _conflict_kind(error: IntegrityError) -> dict[str, str]:
    name = getattr(getattr(error.orig, "diag", None), "constraint_name", "") or ""
    return {"conflict": "room" if "room" in name else "instructor"}


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OccurrenceFilter:
    start_from: datetime
    start_to: datetime
    class_type: str | None = None
    instructor_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    class_id: uuid.UUID | None = None
    include_cancelled: bool = True


def _listing_query() -> Any:
    """Occurrences with their class, teacher, place and window defaults: one statement."""
    teacher = aliased(User)
    effective_teacher = func.coalesce(
        ClassSchedule.substitute_instructor_id, ClassSchedule.instructor_id
    )
    return (
        select(
            ClassSchedule,
            ClassTemplate,
            Tenant.settings,
            Tenant.timezone,
            Tenant.currency,
            teacher.id,
            teacher.first_name,
            teacher.last_name,
            Location.name,
            Room.name,
        )
        .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
        .join(Tenant, Tenant.id == ClassSchedule.tenant_id)
        .outerjoin(teacher, teacher.id == effective_teacher)
        .outerjoin(Location, Location.id == ClassSchedule.location_id)
        .outerjoin(Room, Room.id == ClassSchedule.room_id)
    ), effective_teacher


def effective_window(
    own: int | None, of_class: int | None, settings: dict[str, Any], key: str, default: int
) -> int:
    for value in (own, of_class, settings.get(key)):
        if isinstance(value, int) and value >= 0:
            return value
    return default


def _out(row: Row[Any]) -> OccurrenceOut:
    occ, template, settings, timezone, currency, t_id, t_first, t_last, loc_name, room_name = tuple(
        row
    )
    return OccurrenceOut(
        id=occ.id,
        series_id=occ.series_id,
        start_time=occ.start_time,
        end_time=occ.end_time,
        local_start=occ.start_time.astimezone(ZoneInfo(timezone)).isoformat(),
        status=occ.status,
        cancellation_reason=occ.cancellation_reason,
        capacity=occ.capacity,
        booked_count=occ.booked_count,
        waitlist_count=occ.waitlist_count,
        available_spots=max(0, occ.capacity - occ.booked_count) if occ.status == "scheduled" else 0,
        booking_window_hours=effective_window(
            occ.booking_window_hours,
            template.booking_window_hours,
            settings,
            "booking_window_hours",
            DEFAULT_BOOKING_WINDOW_HOURS,
        ),
        cancellation_window_hours=effective_window(
            occ.cancellation_window_hours,
            template.cancellation_window_hours,
            settings,
            "cancellation_window_hours",
            DEFAULT_CANCELLATION_WINDOW_HOURS,
        ),
        cls=ClassSummary(
            id=template.id,
            name=template.name,
            class_type=template.class_type,
            difficulty_level=template.difficulty_level,
            credits_required=template.credits_required,
            price=template.price,
            currency=currency,
        ),
        instructor=PersonSummary(id=t_id, first_name=t_first, last_name=t_last) if t_id else None,
        substitute=occ.substitute_instructor_id is not None,
        location=PlaceSummary(id=occ.location_id, name=loc_name) if occ.location_id else None,
        room=PlaceSummary(id=occ.room_id, name=room_name) if occ.room_id else None,
    )


async def list_occurrences(
    session: AsyncSession, filters: OccurrenceFilter, *, limit: int, cursor: str | None
) -> tuple[list[OccurrenceOut], str | None]:
    query, effective_teacher = _listing_query()
    query = query.where(
        ClassSchedule.start_time >= filters.start_from, ClassSchedule.start_time < filters.start_to
    )
    if filters.class_type:
        query = query.where(ClassTemplate.class_type == filters.class_type.lower())
    if filters.instructor_id:
        query = query.where(effective_teacher == filters.instructor_id)
    if filters.location_id:
        query = query.where(ClassSchedule.location_id == filters.location_id)
    if filters.class_id:
        query = query.where(ClassSchedule.class_id == filters.class_id)
    if not filters.include_cancelled:
        query = query.where(ClassSchedule.status != "cancelled")
    if cursor:
        raw_start, raw_id = decode_cursor(cursor, 2)
        after_start = cursor_datetime(raw_start)
        after_id = cursor_uuid(raw_id)
        query = query.where(
            or_(
                ClassSchedule.start_time > after_start,
                and_(ClassSchedule.start_time == after_start, ClassSchedule.id > after_id),
            )
        )
    rows = list(
        await session.execute(
            query.order_by(ClassSchedule.start_time, ClassSchedule.id).limit(limit + 1)
        )
    )
    items = [_out(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([last.start_time.isoformat(), str(last.id)])
    return items, next_cursor


async def _outs(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[OccurrenceOut]:
    if not ids:
        return []
    query, _ = _listing_query()
    rows = await session.execute(
        query.where(ClassSchedule.id.in_(ids)).order_by(ClassSchedule.start_time)
    )
    return [_out(row) for row in rows]


async def get_occurrence(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceOut:
    found = await _outs(session, [occurrence_id])
    if not found:
        raise exc.ScheduleNotFound()
    return found[0]


def series_out(series: ScheduleSeries) -> SeriesOut:
    columns = {c.key: getattr(series, c.key) for c in ScheduleSeries.__table__.columns}
    return SeriesOut(**columns, rrule=rule_of(series).as_rrule_text())


async def get_series(session: AsyncSession, series_id: uuid.UUID) -> ScheduleSeries:
    series = await session.get(ScheduleSeries, series_id)
    if series is None:
        raise exc.SeriesNotFound()
    return series


# --- changing ----------------------------------------------------------------------------


async def update_occurrence(
    session: AsyncSession, tenant: TenantRef, occurrence_id: uuid.UUID, changes: OccurrenceUpdate
) -> OccurrenceOut:
    await lock_timetable(session, tenant.id)
    occurrence = await session.get(ClassSchedule, occurrence_id, with_for_update=True)
    if occurrence is None:
        raise exc.ScheduleNotFound()
    values = changes.model_dump(exclude_unset=True)
    teacher_before = occurrence.substitute_instructor_id or occurrence.instructor_id
    for field in ("instructor_id", "substitute_instructor_id"):
        if field in values:
            await check_instructor(session, tenant.id, values[field], field)
    if "location_id" in values or "room_id" in values:
        location_id, room = await check_place(
            session,
            values.get("location_id", occurrence.location_id),
            values.get("room_id", occurrence.room_id),
        )
        values["location_id"] = location_id
        values["room_id"] = room.id if room else None
    else:
        room = await session.get(Room, occurrence.room_id) if occurrence.room_id else None
    if "start_time" in values and "end_time" not in values and values["start_time"]:
        values["end_time"] = values["start_time"] + (occurrence.end_time - occurrence.start_time)
    apply_changes(occurrence, values, nullable=OCCURRENCE_NULLABLE)
    if occurrence.end_time <= occurrence.start_time:
        raise field_error("end_time", "must be after start_time")
    _check_capacity(occurrence, room)
    # Edited on its own now: later edits of the whole series leave this one alone.
    occurrence.detached = occurrence.series_id is not None
    await _flush_checked(session)
    if (occurrence.substitute_instructor_id or occurrence.instructor_id) != teacher_before:
        await hooks.teacher_changed(session, occurrence, teacher_before)
    return await get_occurrence(session, occurrence.id)


def _check_capacity(occurrence: ClassSchedule, room: Room | None) -> None:
    check_room_capacity(room, occurrence.capacity)
    if occurrence.capacity < occurrence.booked_count:
        raise exc.CapacityBelowBookings(details={"booked_count": occurrence.booked_count})


async def _flush_checked(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
            raise exc.ScheduleConflict(details=_conflict_kind(error)) from error
        raise


async def cancel_occurrence(
    session: AsyncSession, occurrence_id: uuid.UUID, reason: str
) -> OccurrenceOut:
    occurrence = await session.get(ClassSchedule, occurrence_id, with_for_update=True)
    if occurrence is None:
        raise exc.ScheduleNotFound()
    await _cancel(session, occurrence, reason)
    return await get_occurrence(session, occurrence.id)


async def _cancel(session: AsyncSession, occurrence: ClassSchedule, reason: str) -> None:
    if occurrence.status == "cancelled":
        raise exc.AlreadyCancelled()
    occurrence.status = "cancelled"
    occurrence.cancellation_reason = reason
    occurrence.cancelled_at = datetime.now(UTC)
    await session.flush()
    # Booked members are refunded and told by whoever subscribed (the booking engine).
    await hooks.occurrence_cancelled(session, occurrence, reason)


async def update_series(
    session: AsyncSession,
    tenant: TenantRef,
    series_id: uuid.UUID,
    changes: SeriesUpdate,
    *,
    horizon_weeks: int,
) -> CreatedSchedule:
    """Apply changes to the series and to its occurrences on or after `apply_from` that
    were not edited on their own. Shortening the series removes later occurrences (or
    cancels them, with the cancellation hook, when people are booked)."""
    await lock_timetable(session, tenant.id)
    series = await session.get(ScheduleSeries, series_id, with_for_update=True)
    if series is None:
        raise exc.SeriesNotFound()
    values = changes.model_dump(exclude_unset=True, exclude={"apply_from", "until"})
    if "instructor_id" in values:
        await check_instructor(session, tenant.id, values["instructor_id"], "instructor_id")
    room = None
    if "location_id" in values or "room_id" in values:
        location_id, room = await check_place(
            session,
            values.get("location_id", series.location_id),
            values.get("room_id", series.room_id),
        )
        values["location_id"] = location_id
        values["room_id"] = room.id if room else None
    elif series.room_id:
        room = await session.get(Room, series.room_id)
    for name, value in values.items():
        if value is None and name in ("local_start_time", "duration_minutes", "capacity"):
            continue
        setattr(series, name, value)
    check_room_capacity(room, series.capacity)
    if "until" in changes.model_fields_set:
        if changes.until is None or changes.until < series.starts_on:
            raise field_error("until", "must be a date on or after the series start")
        series.until_date, series.occurrence_count = changes.until, None
    await session.flush()

    rule = rule_of(series)
    future = list(
        await session.scalars(
            select(ClassSchedule)
            .where(
                ClassSchedule.series_id == series.id,
                ClassSchedule.series_date >= changes.apply_from,
                ClassSchedule.status == "scheduled",
            )
            .order_by(ClassSchedule.series_date)
            .with_for_update()
        )
    )
    last = rule.last_date()
    for occurrence in future:
        assert occurrence.series_date is not None
        if last is not None and occurrence.series_date > last:
            if occurrence.booked_count > 0 or occurrence.waitlist_count > 0:
                await _cancel(session, occurrence, "The recurring class was ended early.")
            else:
                await session.delete(occurrence)
            continue
        if occurrence.detached:
            continue
        occurrence.start_time, occurrence.end_time = rule.local_start(occurrence.series_date)
        occurrence.instructor_id = series.instructor_id
        occurrence.location_id, occurrence.room_id = series.location_id, series.room_id
        occurrence.capacity = series.capacity
        _check_capacity(occurrence, room)
    if series.materialised_through and last and series.materialised_through > last:
        series.materialised_through = last
    await _flush_checked(session)
    # A longer series may need more rows now.
    await materialise(session, series, through=_horizon(tenant, horizon_weeks), on_conflict="raise")
    ids = list(
        await session.scalars(
            select(ClassSchedule.id).where(
                ClassSchedule.series_id == series.id,
                ClassSchedule.series_date >= changes.apply_from,
            )
        )
    )
    return CreatedSchedule(series=series_out(series), occurrences=await _outs(session, ids))


async def extend_all_series(session: AsyncSession, tenant: TenantRef, *, horizon_weeks: int) -> int:
    """Materialise every open series of the tenant up to the horizon (periodic job)."""
    through = _horizon(tenant, horizon_weeks)
    await lock_timetable(session, tenant.id)
    created = 0
    open_series = await session.scalars(
        select(ScheduleSeries)
        .where(
            or_(
                ScheduleSeries.materialised_through.is_(None),
                ScheduleSeries.materialised_through < through,
            ),
            or_(
                ScheduleSeries.until_date.is_(None),
                ScheduleSeries.until_date
                > func.coalesce(ScheduleSeries.materialised_through, ScheduleSeries.starts_on),
            ),
        )
        .with_for_update(skip_locked=True)
    )
    for series in list(open_series):
        created += len(await materialise(session, series, through=through, on_conflict="skip"))
    return created
