from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    tenant_foreign_key,
)

DIFFICULTY_LEVELS = ("beginner", "intermediate", "advanced", "all_levels")
OCCURRENCE_STATUSES = ("scheduled", "cancelled", "completed")


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class Location(TenantPrimaryKey, Timestamps, Base):
    """A place a studio teaches: an address with coordinates (for the marketplace)."""

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude"),
        # The marketplace's geographic prefilter: a bounding box is two btree ranges here
        # (issue 9 measured a GiST earthdistance index slower on this machine).
        Index(
            "ix_locations_coordinates",
            "latitude",
            "longitude",
            postgresql_where=text("latitude IS NOT NULL AND is_active"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Room(TenantPrimaryKey, Timestamps, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        tenant_foreign_key("location_id", "locations", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "location_id", "name"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    name: Mapped[str] = mapped_column(String(120))
    capacity: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class ClassTemplate(TenantPrimaryKey, Timestamps, Base):
    """A class as offered ("Morning Vinyasa"): scheduled many times as occurrences."""

    __tablename__ = "classes"
    __table_args__ = (
        tenant_foreign_key("location_id", "locations", ondelete="SET NULL"),
        tenant_foreign_key("room_id", "rooms", ondelete="SET NULL"),
        Index("ix_classes_tenant_id_is_active", "tenant_id", "is_active"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration"),
        CheckConstraint("max_capacity BETWEEN 1 AND 10000", name="max_capacity"),
        CheckConstraint("credits_required >= 0", name="credits_required"),
        CheckConstraint("price IS NULL OR price >= 0", name="price"),
        CheckConstraint(f"difficulty_level IN {DIFFICULTY_LEVELS}", name="difficulty_level"),
        CheckConstraint(
            "booking_window_hours IS NULL OR booking_window_hours BETWEEN 0 AND 8760",
            name="booking_window",
        ),
        CheckConstraint(
            "cancellation_window_hours IS NULL OR cancellation_window_hours BETWEEN 0 AND 720",
            name="cancellation_window",
        ),
        CheckConstraint(
            "marketplace_seats IS NULL OR marketplace_seats >= 0", name="marketplace_seats"
        ),
        # Typo-tolerant marketplace search on class names (pg_trgm).
        Index(
            "ix_classes_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    class_type: Mapped[str] = mapped_column(String(40))
    instructor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    duration_minutes: Mapped[int] = mapped_column(Integer)
    max_capacity: Mapped[int] = mapped_column(Integer)
    difficulty_level: Mapped[str] = mapped_column(String(20), server_default="all_levels")
    credits_required: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    equipment_needed: Mapped[list[str]] = mapped_column(
        ARRAY(String(60)), server_default=text("'{}'::varchar[]")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Only members with an active membership (billing) may book it.
    requires_membership: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Minor units in the tenant's currency; NULL = bookable with credits or membership only.
    price: Mapped[int | None] = mapped_column(Integer)
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    room_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    booking_window_hours: Mapped[int | None] = mapped_column(Integer)
    cancellation_window_hours: Mapped[int | None] = mapped_column(Integer)
    # Not listed publicly (private sessions, a corporate group): never on the marketplace.
    is_private: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # How many seats of each occurrence the marketplace may fill: NULL = any free seat,
    # 0 = not offered there. The seats are the class's own (one pool, never oversold).
    marketplace_seats: Mapped[int | None] = mapped_column(Integer)
    # Its photo's resized copies in file storage (storage/images.py), or NULL.
    photo: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ScheduleSeries(TenantPrimaryKey, Timestamps, Base):
    """A weekly recurrence in the tenant's time zone; its occurrences are rows."""

    __tablename__ = "schedule_series"
    __table_args__ = (
        tenant_foreign_key("class_id", "classes", ondelete="CASCADE"),
        tenant_foreign_key("location_id", "locations", ondelete="SET NULL"),
        tenant_foreign_key("room_id", "rooms", ondelete="SET NULL"),
        CheckConstraint("until_date IS NOT NULL OR occurrence_count IS NOT NULL", name="has_end"),
        CheckConstraint("cardinality(weekdays) BETWEEN 1 AND 7", name="weekdays"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    class_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    weekdays: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))  # 0 = Monday
    local_start_time: Mapped[time] = mapped_column(Time)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    until_date: Mapped[date | None] = mapped_column(Date)
    occurrence_count: Mapped[int | None] = mapped_column(Integer)
    instructor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    room_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    capacity: Mapped[int] = mapped_column(Integer)
    # Occurrences exist as rows up to this local date; a periodic job moves it forward.
    materialised_through: Mapped[date | None] = mapped_column(Date)
    generated_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class ClassSchedule(TenantPrimaryKey, Timestamps, Base):
    """One occurrence of a class: what members book."""

    __tablename__ = "class_schedules"
    __table_args__ = (
        tenant_foreign_key("class_id", "classes", ondelete="CASCADE"),
        tenant_foreign_key("series_id", "schedule_series", ondelete="SET NULL"),
        tenant_foreign_key("location_id", "locations", ondelete="SET NULL"),
        tenant_foreign_key("room_id", "rooms", ondelete="SET NULL"),
        Index("ix_class_schedules_tenant_start", "tenant_id", "start_time"),
        UniqueConstraint("tenant_id", "series_id", "series_date"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity", name="booked_count"),
        CheckConstraint("waitlist_count >= 0", name="waitlist_count"),
        CheckConstraint(
            "marketplace_booked >= 0 AND marketplace_booked <= booked_count",
            name="marketplace_booked",
        ),
        # Marketplace search: a location's upcoming classes.
        Index(
            "ix_class_schedules_location_start",
            "location_id",
            "start_time",
            postgresql_where=text("status = 'scheduled'"),
        ),
        CheckConstraint(f"status IN {OCCURRENCE_STATUSES}", name="status"),
        # The database, not the application, keeps an instructor from teaching two classes
        # at once and a room from hosting two (a race between two admins cannot beat it).
        ExcludeConstraint(
            ("tenant_id", "="),
            (text("coalesce(substitute_instructor_id, instructor_id)"), "="),
            (text("tstzrange(start_time, end_time)"), "&&"),
            name="ex_class_schedules_instructor_overlap",
            using="gist",
            where=text("status <> 'cancelled'"),
        ),
        ExcludeConstraint(
            ("tenant_id", "="),
            ("room_id", "="),
            (text("tstzrange(start_time, end_time)"), "&&"),
            name="ex_class_schedules_room_overlap",
            using="gist",
            where=text("status <> 'cancelled' AND room_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    class_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    series_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    series_date: Mapped[date | None] = mapped_column(Date)
    instructor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    substitute_instructor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    room_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    booked_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    waitlist_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Of booked_count, the seats taken through the marketplace (capped by the class's
    # marketplace_seats in the same guarded UPDATE that takes the seat).
    marketplace_booked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'scheduled'"))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    booking_window_hours: Mapped[int | None] = mapped_column(Integer)
    cancellation_window_hours: Mapped[int | None] = mapped_column(Integer)
    # Edited on its own: later edits of the series leave it alone.
    detached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
