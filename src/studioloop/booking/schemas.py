from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

BookingStatus = Literal[
    "confirmed", "waitlisted", "held", "cancelled", "completed", "no_show", "expired"
]


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_schedule_id: uuid.UUID
    credits_to_use: StrictInt | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Optional: the credits you expect to spend; refused if it differs",
    )
    join_waitlist: StrictBool = Field(default=False, description="If full, join the waitlist")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class BookingOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    class_schedule_id: uuid.UUID
    status: BookingStatus
    booking_type: Literal["direct", "marketplace"]
    credits_used: int
    waitlist_position: int | None
    qr_code: str | None
    qr_expires_at: datetime | None
    check_in_time: datetime | None
    hold_expires_at: datetime | None = Field(
        default=None, description="`held` bookings: the seat is kept until then, unpaid"
    )
    cancellation_reason: str | None
    cancelled_at: datetime | None
    cancelled_by_studio: bool = Field(
        default=False,
        description="Cancelled by the studio (the class, or its staff), not by the member",
    )
    late_cancellation: bool
    credits_refunded: int | None = None
    class_name: str
    start_time: datetime
    end_time: datetime
    created_at: datetime


class RosterEntry(BaseModel):
    booking_id: uuid.UUID
    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    status: BookingStatus
    waitlist_position: int | None
    check_in_time: datetime | None


MAX_BATCH = 500


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nonce: str = Field(min_length=8, max_length=100, description="Unique per scan, by device")
    code: str = Field(min_length=1, max_length=1000)
    scanned_at: AwareDatetime


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=100)
    scans: list[ScanIn] = Field(max_length=MAX_BATCH)


class CalendarFeed(BaseModel):
    """The secret address of a member's bookings feed."""

    url: str
    webcal_url: str
