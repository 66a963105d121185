from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    tenant_foreign_key,
)
from studioloop.db.sql_files import sql_list

# `held`: a seat kept for a member while they pay for the class by card; it counts against
# capacity like a confirmed booking. `expired`: a hold that lapsed unpaid (its seat freed).
BOOKING_STATUSES = (
    "confirmed",
    "waitlisted",
    "held",
    "cancelled",
    "completed",
    "no_show",
    "expired",
)
BOOKING_TYPES = ("direct", "marketplace")
# The one definition of which bookings are active (one per member and occurrence) and
# which take a seat (what class_schedules.booked_count counts). SQL uses them too: the
# index below, and booking/attempt.sql, rendered from these (db/sql_files.py).
ACTIVE_STATUSES = ("confirmed", "waitlisted", "held")
SEAT_STATUSES = ("confirmed", "held")

ONE_ACTIVE_PER_MEMBER = "uq_bookings_one_active_per_member"


class Booking(TenantPrimaryKey, Timestamps, Base):
    """A member's place in one class occurrence (or in its waitlist)."""

    __tablename__ = "bookings"
    __table_args__ = (
        tenant_foreign_key("class_schedule_id", "class_schedules", ondelete="CASCADE"),
        # One active booking per member per occurrence, whatever races happen.
        Index(
            ONE_ACTIVE_PER_MEMBER,
            "tenant_id",
            "class_schedule_id",
            "user_id",
            unique=True,
            postgresql_where=text(f"status IN ({sql_list(ACTIVE_STATUSES)})"),
        ),
        # The hold expiry job's scan.
        Index(
            "ix_bookings_hold_expiry",
            "hold_expires_at",
            postgresql_where=text("status = 'held'"),
        ),
        Index("ix_bookings_occurrence_status", "class_schedule_id", "status", "waitlisted_at"),
        Index("ix_bookings_user_status", "user_id", "status"),
        CheckConstraint(f"status IN {BOOKING_STATUSES}", name="status"),
        CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name="hold_expiry"),
        CheckConstraint(f"booking_type IN {BOOKING_TYPES}", name="booking_type"),
        CheckConstraint("credits_used >= 0", name="credits_used"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    class_schedule_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    booking_type: Mapped[str] = mapped_column(String(16), server_default=text("'direct'"))
    credits_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    qr_code: Mapped[str | None] = mapped_column(Text)
    qr_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_in_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waitlisted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    late_cancellation: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    marketplace_fee: Mapped[int | None] = mapped_column(Integer)


class CheckinScan(TenantPrimaryKey, Base):
    """One scan uploaded by an offline device, kept so each is applied exactly once."""

    __tablename__ = "checkin_scans"
    __table_args__ = (
        tenant_foreign_key("booking_id", "bookings", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "nonce"),
        Index("ix_checkin_scans_booking", "booking_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[str] = mapped_column(String(100))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    result: Mapped[str] = mapped_column(String(40))
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    scanned_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
