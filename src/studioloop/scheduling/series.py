"""Weekly series: creating a class on the timetable (once or every week), changing a whole
series, and materialising its occurrences up to the horizon (the periodic job).

Occurrences themselves, one at a time, are timetable.py's; a series is written through it
(its inserts, checks and cancellations), so a clash is refused the same way either way.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.errors import field_error
from studioloop.scheduling import exceptions as exc
from studioloop.scheduling.models import ClassSchedule, ClassTemplate, Room, ScheduleSeries
from studioloop.scheduling.recurrence import WeeklyRule
from studioloop.scheduling.schemas import CreatedSchedule, ScheduleIn, SeriesOut, SeriesUpdate
from studioloop.scheduling.service import check_instructor, check_place, check_room_capacity
from studioloop.scheduling.timetable import (
    cancel_and_tell,
    check_capacity,
    flush_checked,
    insert_occurrences,
    lock_timetable,
    occurrences_out,
)
from studioloop.tenants.cache import TenantRef


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
        await insert_occurrences(session, [occurrence])
        return CreatedSchedule(
            series=None, occurrences=await occurrences_out(session, [occurrence.id])
        )

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
    return CreatedSchedule(
        series=series_out(series), occurrences=await occurrences_out(session, created)
    )


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
    clashes = await insert_occurrences(session, rows, collect_conflicts=True)
    if clashes and on_conflict == "raise":
        raise exc.ScheduleConflict(details={"conflicting_dates": [str(d) for d in clashes]})
    last = rule_of(series).last_date()
    series.materialised_through = min(through, last) if last else through
    await session.flush()
    return [row.id for row in rows if row.series_date not in clashes]


def series_out(series: ScheduleSeries) -> SeriesOut:
    columns = {c.key: getattr(series, c.key) for c in ScheduleSeries.__table__.columns}
    return SeriesOut(**columns, rrule=rule_of(series).as_rrule_text())


async def get_series(session: AsyncSession, series_id: uuid.UUID) -> ScheduleSeries:
    series = await session.get(ScheduleSeries, series_id)
    if series is None:
        raise exc.SeriesNotFound()
    return series


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
                await cancel_and_tell(session, occurrence, "The recurring class was ended early.")
            else:
                await session.delete(occurrence)
            continue
        if occurrence.detached:
            continue
        occurrence.start_time, occurrence.end_time = rule.local_start(occurrence.series_date)
        occurrence.instructor_id = series.instructor_id
        occurrence.location_id, occurrence.room_id = series.location_id, series.room_id
        occurrence.capacity = series.capacity
        check_capacity(occurrence, room)
    if series.materialised_through and last and series.materialised_through > last:
        series.materialised_through = last
    await flush_checked(session)
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
    return CreatedSchedule(
        series=series_out(series), occurrences=await occurrences_out(session, ids)
    )


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
