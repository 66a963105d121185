"""The timetable: class occurrences, their listings, edits and cancellations.

Weekly series, which create and change many occurrences at once, are in series.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
)
from studioloop.scheduling.schemas import (
    ClassSummary,
    OccurrenceOut,
    OccurrenceUpdate,
    PersonSummary,
    PlaceSummary,
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


async def insert_occurrences(
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


async def occurrences_out(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[OccurrenceOut]:
    if not ids:
        return []
    query, _ = _listing_query()
    rows = await session.execute(
        query.where(ClassSchedule.id.in_(ids)).order_by(ClassSchedule.start_time)
    )
    return [_out(row) for row in rows]


async def get_occurrence(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceOut:
    found = await occurrences_out(session, [occurrence_id])
    if not found:
        raise exc.ScheduleNotFound()
    return found[0]


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
    check_capacity(occurrence, room)
    # Edited on its own now: later edits of the whole series leave this one alone.
    occurrence.detached = occurrence.series_id is not None
    await flush_checked(session)
    if (occurrence.substitute_instructor_id or occurrence.instructor_id) != teacher_before:
        await hooks.teacher_changed(session, occurrence, teacher_before)
    return await get_occurrence(session, occurrence.id)


def check_capacity(occurrence: ClassSchedule, room: Room | None) -> None:
    check_room_capacity(room, occurrence.capacity)
    if occurrence.capacity < occurrence.booked_count:
        raise exc.CapacityBelowBookings(details={"booked_count": occurrence.booked_count})


async def flush_checked(session: AsyncSession) -> None:
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
    await cancel_and_tell(session, occurrence, reason)
    return await get_occurrence(session, occurrence.id)


async def cancel_and_tell(session: AsyncSession, occurrence: ClassSchedule, reason: str) -> None:
    if occurrence.status == "cancelled":
        raise exc.AlreadyCancelled()
    occurrence.status = "cancelled"
    occurrence.cancellation_reason = reason
    occurrence.cancelled_at = datetime.now(UTC)
    await session.flush()
    # Booked members are refunded and told by whoever subscribed (the booking engine).
    await hooks.occurrence_cancelled(session, occurrence, reason)
