from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from studioloop.core.schemas import omittable

Aggregation = Literal["count", "sum", "max", "unique_count", "latest"]
Reset = Literal["billing_period", "month", "never"]
MAX_BATCH = 1000
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class MeterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: StrictStr = Field(pattern=SLUG_PATTERN, description="Names the meter in caps and checks")
    name: StrictStr = Field(min_length=1, max_length=120)
    event_name: StrictStr = Field(min_length=1, max_length=120)
    property_filter: dict[str, StrictStr | StrictInt | bool] = Field(
        default_factory=dict,
        max_length=10,
        description="Only events whose properties hold all of these values are counted",
    )
    aggregation: Aggregation = "count"
    value_property: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="The property aggregated; none: the event's `value` (1 when absent)",
    )
    unit: StrictStr = Field(default="units", min_length=1, max_length=40)
    reset: Reset = "billing_period"


class MeterUpdate(BaseModel):
    """Name and unit may always change; what is counted only while nothing was."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = omittable(min_length=1, max_length=120)
    unit: StrictStr = omittable(min_length=1, max_length=40)
    event_name: StrictStr = omittable(min_length=1, max_length=120)
    property_filter: dict[str, StrictStr | StrictInt | bool] = omittable(max_length=10)
    aggregation: Aggregation = omittable()
    value_property: StrictStr | None = Field(default=None, min_length=1, max_length=120)
    reset: Reset = omittable()
    archived: bool = omittable(description="True: stops counting; its totals stay readable")


class MeterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    event_name: str
    property_filter: dict[str, Any]
    aggregation: Aggregation
    value_property: str | None
    unit: str
    reset: Reset
    created_at: datetime
    archived_at: datetime | None


class EventIn(BaseModel):
    """One usage event. Checked one by one: a bad event is rejected, the others go in."""

    model_config = ConfigDict(extra="forbid")

    event_id: StrictStr = Field(
        min_length=1, max_length=200, description="Your id for the event: a retry is ignored"
    )
    customer: StrictStr = Field(
        min_length=1, max_length=320, description="The member's user id or email"
    )
    event: StrictStr = Field(min_length=1, max_length=120, description="The event's name")
    value: StrictInt | StrictFloat | None = Field(
        default=None, ge=0, le=1e15, allow_inf_nan=False, description="What a sum counts"
    )
    properties: dict[str, Any] = Field(default_factory=dict, max_length=50)
    timestamp: datetime | None = Field(
        default=None, description="When it happened, ISO 8601 with a UTC offset; absent: now"
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_text_only(cls, value: Any) -> Any:
        # Pydantic would read a number as seconds since 1970: the contract is ISO text.
        if value is not None and not isinstance(value, str):
            raise ValueError("give the time as ISO 8601 text with a UTC offset")
        return value


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are not typed here: a malformed event is refused on its own (index and code in
    # the answer), never by the batch's validation.
    events: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=(
            "Up to 1,000 events, each `{event_id, customer, event, value?, properties?, "
            "timestamp?}`; each is checked on its own"
        ),
    )


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    code: str
    message: str


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]


class CheckOut(BaseModel):
    allowed: bool
    state: Literal["ok", "warn", "blocked"]
    meter: str | None = None
    feature: str | None = None
    used: Decimal | None = None
    limit: Decimal | None = Field(default=None, description="Included units; none: no cap")
    remaining: Decimal | None = None
    hard_cap: bool | None = None
    resets_at: datetime | None = None
    tier: str | None = Field(default=None, description="The customer's plan; none: no tier")


class UsageLineOut(BaseModel):
    meter: str
    name: str
    unit: str
    used: Decimal
    limit: Decimal | None
    period_start: datetime
    period_end: datetime | None
