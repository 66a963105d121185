from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from studioloop.core.schemas import LocalTime, omittable
from studioloop.tenants.schemas import Address

Difficulty = Literal["beginner", "intermediate", "advanced", "all_levels"]
OccurrenceStatus = Literal["scheduled", "cancelled", "completed"]
CLASS_TYPE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
MAX_OCCURRENCES = 520  # ten years of a weekly class


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- locations and rooms -----------------------------------------------------------------


class LocationIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    address: Address = Field(default_factory=Address)
    latitude: StrictFloat | None = Field(default=None, ge=-90, le=90)
    longitude: StrictFloat | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class LocationUpdate(Strict):
    name: str = omittable(min_length=1, max_length=120)
    address: Address = omittable()
    latitude: StrictFloat | None = Field(default=None, ge=-90, le=90)
    longitude: StrictFloat | None = Field(default=None, ge=-180, le=180)
    is_active: StrictBool = omittable()


class RoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    location_id: uuid.UUID
    name: str
    capacity: int
    is_active: bool


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    address: dict[str, Any]
    latitude: float | None
    longitude: float | None
    is_active: bool
    rooms: list[RoomOut] = Field(default_factory=list)


class RoomIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    capacity: StrictInt = Field(ge=1, le=10000)


class RoomUpdate(Strict):
    name: str = omittable(min_length=1, max_length=120)
    capacity: StrictInt = omittable(ge=1, le=10000)
    is_active: StrictBool = omittable()


# --- classes -----------------------------------------------------------------------------


def _class_type(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not CLASS_TYPE.match(value):
        raise ValueError("must be a short lowercase word such as yoga, hiit or spin")
    return value


class ClassIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    class_type: str
    instructor_id: uuid.UUID | None = None
    duration_minutes: StrictInt = Field(ge=5, le=720)
    max_capacity: StrictInt = Field(ge=1, le=10000)
    difficulty_level: Difficulty = "all_levels"
    credits_required: StrictInt = Field(default=1, ge=0, le=100)
    equipment_needed: list[str] = Field(default_factory=list, max_length=30)
    is_active: StrictBool = True
    requires_membership: StrictBool = False
    price: StrictInt | None = Field(
        default=None, ge=1, description="Minor units (cents) to pay by card; null: no card price"
    )
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    booking_window_hours: StrictInt | None = Field(default=None, ge=0, le=8760)
    cancellation_window_hours: StrictInt | None = Field(default=None, ge=0, le=720)
    is_private: StrictBool = Field(default=False, description="Unlisted: never on the marketplace")
    marketplace_seats: StrictInt | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Seats per occurrence the marketplace may fill (null: any free seat, "
        "0: not on the marketplace)",
    )

    _type = field_validator("class_type")(_class_type)


class ClassUpdate(Strict):
    name: str = omittable(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    class_type: str = omittable()
    instructor_id: uuid.UUID | None = None
    duration_minutes: StrictInt = omittable(ge=5, le=720)
    max_capacity: StrictInt = omittable(ge=1, le=10000)
    difficulty_level: Difficulty = omittable()
    credits_required: StrictInt = omittable(ge=0, le=100)
    equipment_needed: list[str] = omittable(max_length=30)
    is_active: StrictBool = omittable()
    requires_membership: StrictBool = omittable()
    price: StrictInt | None = Field(default=None, ge=1)
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    booking_window_hours: StrictInt | None = Field(default=None, ge=0, le=8760)
    cancellation_window_hours: StrictInt | None = Field(default=None, ge=0, le=720)
    is_private: StrictBool = omittable()
    marketplace_seats: StrictInt | None = Field(default=None, ge=0, le=10000)

    _type = field_validator("class_type")(_class_type)


class ClassOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    class_type: str
    instructor_id: uuid.UUID | None
    duration_minutes: int
    max_capacity: int
    difficulty_level: Difficulty
    credits_required: int
    equipment_needed: list[str]
    is_active: bool
    requires_membership: bool
    price: int | None
    currency: str
    location_id: uuid.UUID | None
    room_id: uuid.UUID | None
    booking_window_hours: int | None
    cancellation_window_hours: int | None
    is_private: bool
    marketplace_seats: int | None
    created_at: datetime
    updated_at: datetime


# --- occurrences and series --------------------------------------------------------------


class Recurrence(Strict):
    """Weekly on `weekdays` (0 = Monday ... 6 = Sunday) at the studio's local time."""

    weekdays: list[StrictInt] = Field(min_length=1, max_length=7)
    starts_on: date
    until: date | None = None
    count: StrictInt | None = Field(default=None, ge=1, le=MAX_OCCURRENCES)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _has_one_end(self) -> Self:
        if (self.until is None) == (self.count is None):
            raise ValueError("give exactly one of until (a date) or count (occurrences)")
        if self.until is not None and self.until < self.starts_on:
            raise ValueError("until is before starts_on")
        if self.until is not None and (self.until - self.starts_on).days > 3660:
            raise ValueError("a series can run at most ten years")
        return self


class ScheduleIn(Strict):
    """One occurrence (`start_time`) or a weekly series (`local_start_time` + `recurrence`)."""

    class_id: uuid.UUID
    start_time: AwareDatetime | None = Field(
        default=None, description="One occurrence: an ISO time with offset"
    )
    local_start_time: LocalTime | None = Field(
        default=None, description="Series: the local time of day in the studio's time zone"
    )
    recurrence: Recurrence | None = None
    duration_minutes: StrictInt | None = Field(default=None, ge=5, le=720)
    instructor_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    capacity: StrictInt | None = Field(default=None, ge=1, le=10000)
    booking_window_hours: StrictInt | None = Field(default=None, ge=0, le=8760)
    cancellation_window_hours: StrictInt | None = Field(default=None, ge=0, le=720)

    @model_validator(mode="after")
    def _single_or_series(self) -> Self:
        single = self.start_time is not None
        series = self.recurrence is not None or self.local_start_time is not None
        if single == series:
            raise ValueError(
                "give start_time for one occurrence, or local_start_time and recurrence "
                "for a weekly series"
            )
        if series and (self.recurrence is None or self.local_start_time is None):
            raise ValueError("a series needs both local_start_time and recurrence")
        return self


class OccurrenceUpdate(Strict):
    start_time: AwareDatetime = omittable()
    end_time: AwareDatetime = omittable()
    instructor_id: uuid.UUID | None = None
    substitute_instructor_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    capacity: StrictInt = omittable(ge=1, le=10000)
    booking_window_hours: StrictInt | None = Field(default=None, ge=0, le=8760)
    cancellation_window_hours: StrictInt | None = Field(default=None, ge=0, le=720)


class SeriesUpdate(Strict):
    """Change every occurrence of a series from `apply_from` (a local date) on."""

    apply_from: date
    local_start_time: LocalTime = omittable()
    duration_minutes: StrictInt = omittable(ge=5, le=720)
    instructor_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    capacity: StrictInt = omittable(ge=1, le=10000)
    until: date | None = Field(default=None, description="End the series earlier or later")


class CancelRequest(Strict):
    reason: str = Field(min_length=3, max_length=500)


class PersonSummary(BaseModel):
    id: uuid.UUID
    first_name: str
    last_name: str


class ClassSummary(BaseModel):
    id: uuid.UUID
    name: str
    class_type: str
    difficulty_level: Difficulty
    credits_required: int
    price: int | None
    currency: str


class PlaceSummary(BaseModel):
    id: uuid.UUID
    name: str


class OccurrenceOut(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID | None
    start_time: datetime
    end_time: datetime
    local_start: str = Field(description="Start in the studio's time zone, ISO 8601")
    status: OccurrenceStatus
    cancellation_reason: str | None
    capacity: int
    booked_count: int
    waitlist_count: int
    available_spots: int
    booking_window_hours: int
    cancellation_window_hours: int
    cls: ClassSummary = Field(serialization_alias="class")
    instructor: PersonSummary | None
    substitute: bool = Field(description="True when a substitute teaches this occurrence")
    location: PlaceSummary | None
    room: PlaceSummary | None


class SeriesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    class_id: uuid.UUID
    weekdays: list[int]
    local_start_time: LocalTime
    duration_minutes: int
    timezone: str
    starts_on: date
    until_date: date | None
    occurrence_count: int | None
    instructor_id: uuid.UUID | None
    location_id: uuid.UUID | None
    room_id: uuid.UUID | None
    capacity: int
    materialised_through: date | None
    rrule: str


class CreatedSchedule(BaseModel):
    series: SeriesOut | None
    occurrences: list[OccurrenceOut]
