"""The studio's catalogue: locations, rooms and classes.

Occurrences and weekly series are in `timetable`. Both run with the tenant
already set in the transaction, so row-level security confines every statement.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import members
from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.core.patching import apply_changes
from studioloop.scheduling import exceptions as exc, geocoding
from studioloop.scheduling.models import ClassSchedule, ClassTemplate, Location, Room
from studioloop.scheduling.schemas import (
    ClassIn,
    ClassOut,
    ClassUpdate,
    LocationIn,
    LocationOut,
    LocationUpdate,
    RoomIn,
    RoomOut,
    RoomUpdate,
)
from studioloop.tenants.cache import TenantRef

# --- checks shared with the timetable ----------------------------------------------------


async def check_instructor(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID | None, field: str
) -> None:
    if user_id is None:
        return
    membership = await members.membership_of(session, tenant_id, user_id)
    if membership is None or not membership.allows("instructor"):
        raise field_error(field, "is not an active instructor of this studio")


async def check_place(
    session: AsyncSession, location_id: uuid.UUID | None, room_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, Room | None]:
    """Validate a location/room pair; a room implies its location. Returns both."""
    room = None
    if room_id is not None:
        room = await session.get(Room, room_id)
        if room is None:
            raise field_error("room_id", "is not a room of this studio")
        if location_id is not None and room.location_id != location_id:
            raise field_error("room_id", "is not in the chosen location")
        location_id = room.location_id
    if location_id is not None and await session.get(Location, location_id) is None:
        raise field_error("location_id", "is not a location of this studio")
    return location_id, room


def check_room_capacity(room: Room | None, capacity: int) -> None:
    if room is not None and capacity > room.capacity:
        raise exc.CapacityAboveRoom(details={"capacity": capacity, "room_capacity": room.capacity})


# --- locations and rooms -----------------------------------------------------------------


async def list_locations(session: AsyncSession, *, include_inactive: bool) -> list[LocationOut]:
    query = select(Location).order_by(Location.name)
    if not include_inactive:
        query = query.where(Location.is_active.is_(True))
    locations = list(await session.scalars(query))
    rooms = list(await session.scalars(select(Room).order_by(Room.name)))
    by_location: dict[uuid.UUID, list[RoomOut]] = {}
    for room in rooms:
        if include_inactive or room.is_active:
            by_location.setdefault(room.location_id, []).append(RoomOut.model_validate(room))
    return [
        LocationOut.model_validate(loc).model_copy(update={"rooms": by_location.get(loc.id, [])})
        for loc in locations
    ]


async def create_location(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, data: LocationIn
) -> Location:
    address = data.address.model_dump(exclude_none=True)
    latitude, longitude = data.latitude, data.longitude
    if latitude is None:
        found = await geocoding.coordinates_for_address(settings, address)
        if found:
            latitude, longitude = found
    location = Location(
        tenant_id=tenant_id,
        name=data.name,
        address=address,
        latitude=latitude,
        longitude=longitude,
    )
    await _flush_unique(session, location)
    return location


async def update_location(
    session: AsyncSession, settings: Settings, location_id: uuid.UUID, changes: LocationUpdate
) -> Location:
    location = await session.get(Location, location_id)
    if location is None:
        raise exc.LocationNotFound()
    values = changes.model_dump(exclude_unset=True)
    if changes.address is not None:
        values["address"] = changes.address.model_dump(exclude_none=True)
    for name, value in values.items():
        if value is None and name in ("name", "address", "is_active"):
            continue
        setattr(location, name, value)
    if (location.latitude is None) != (location.longitude is None):
        raise field_error("latitude", "give both latitude and longitude, or neither")
    if changes.address is not None and "latitude" not in values:
        # A new address without new coordinates: the old ones may be miles off.
        found = await geocoding.coordinates_for_address(settings, location.address)
        if found:
            location.latitude, location.longitude = found
    await _flush_unique(session, location)
    return location


async def create_room(
    session: AsyncSession, tenant_id: uuid.UUID, location_id: uuid.UUID, data: RoomIn
) -> Room:
    if await session.get(Location, location_id) is None:
        raise exc.LocationNotFound()
    room = Room(
        tenant_id=tenant_id, location_id=location_id, name=data.name, capacity=data.capacity
    )
    await _flush_unique(session, room)
    return room


async def update_room(session: AsyncSession, room_id: uuid.UUID, changes: RoomUpdate) -> Room:
    room = await session.get(Room, room_id, with_for_update=True)
    if room is None:
        raise exc.RoomNotFound()
    if changes.capacity is not None and changes.capacity < room.capacity:
        # Future classes already promised more places than the smaller room holds.
        too_big = await session.scalar(
            select(func.count()).where(
                ClassSchedule.room_id == room.id,
                ClassSchedule.status == "scheduled",
                ClassSchedule.start_time > datetime.now(UTC),
                ClassSchedule.capacity > changes.capacity,
            )
        )
        if too_big:
            raise exc.CapacityAboveRoom(
                "Future classes in this room hold more people than the new capacity.",
                details={"future_occurrences": too_big},
            )
    for name, value in changes.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(room, name, value)
    await _flush_unique(session, room)
    return room


async def _flush_unique(session: AsyncSession, row: Any) -> None:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        raise exc.NameTaken(details={"field": "name"}) from error
    await session.refresh(row)


# Fields a PATCH may clear with null.
CLASS_NULLABLE = frozenset(
    {
        "description",
        "instructor_id",
        "price",
        "location_id",
        "room_id",
        "booking_window_hours",
        "cancellation_window_hours",
        "marketplace_seats",
    }
)


# --- classes -----------------------------------------------------------------------------


def class_out(row: ClassTemplate, tenant: TenantRef) -> ClassOut:
    columns = {column.key: getattr(row, column.key) for column in ClassTemplate.__table__.columns}
    return ClassOut(**columns, currency=tenant.currency)


async def list_classes(
    session: AsyncSession, tenant: TenantRef, *, include_inactive: bool, class_type: str | None
) -> list[ClassOut]:
    query = select(ClassTemplate).order_by(ClassTemplate.name, ClassTemplate.id)
    if not include_inactive:
        query = query.where(ClassTemplate.is_active.is_(True))
    if class_type:
        query = query.where(ClassTemplate.class_type == class_type.lower())
    return [class_out(row, tenant) for row in await session.scalars(query)]


async def get_class(
    session: AsyncSession, class_id: uuid.UUID, *, include_inactive: bool
) -> ClassTemplate:
    row = await session.get(ClassTemplate, class_id)
    if row is None or (not row.is_active and not include_inactive):
        raise exc.ClassNotFound()
    return row


async def class_photos(
    session: AsyncSession, class_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The photos of these classes (of the studio in context) by class: those that have one."""
    if not class_ids:
        return {}
    rows = await session.execute(
        select(ClassTemplate.id, ClassTemplate.photo).where(
            ClassTemplate.id.in_(set(class_ids)), ClassTemplate.photo.is_not(None)
        )
    )
    return {class_id: photo for class_id, photo in rows}


async def create_class(session: AsyncSession, tenant_id: uuid.UUID, data: ClassIn) -> ClassTemplate:
    await check_instructor(session, tenant_id, data.instructor_id, "instructor_id")
    location_id, room = await check_place(session, data.location_id, data.room_id)
    check_room_capacity(room, data.max_capacity)
    row = ClassTemplate(
        tenant_id=tenant_id, **data.model_dump(exclude={"location_id"}), location_id=location_id
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def update_class(
    session: AsyncSession, tenant_id: uuid.UUID, class_id: uuid.UUID, changes: ClassUpdate
) -> ClassTemplate:
    row = await get_class(session, class_id, include_inactive=True)
    values = changes.model_dump(exclude_unset=True)
    if "instructor_id" in values:
        await check_instructor(session, tenant_id, values["instructor_id"], "instructor_id")
    if "location_id" in values or "room_id" in values:
        location_id, room = await check_place(
            session, values.get("location_id", row.location_id), values.get("room_id", row.room_id)
        )
        values["location_id"] = location_id
        check_room_capacity(room, values.get("max_capacity") or row.max_capacity)
    apply_changes(row, values, nullable=CLASS_NULLABLE)
    await session.flush()
    await session.refresh(row)
    return row


async def delete_class(session: AsyncSession, class_id: uuid.UUID) -> None:
    row = await get_class(session, class_id, include_inactive=True)
    booked = await session.scalar(
        select(func.count()).where(
            ClassSchedule.class_id == row.id,
            ClassSchedule.start_time > datetime.now(UTC),
            ClassSchedule.status == "scheduled",
            (ClassSchedule.booked_count > 0) | (ClassSchedule.waitlist_count > 0),
        )
    )
    if booked:
        raise exc.ClassHasBookings(details={"occurrences_with_bookings": booked})
    await session.delete(row)
    await session.flush()
