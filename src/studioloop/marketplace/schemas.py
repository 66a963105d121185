from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from studioloop.booking.schemas import BookingOut

SortOrder = Literal["distance", "start", "price"]
Difficulty = Literal["beginner", "intermediate", "advanced", "all_levels"]


class StudioSummary(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class PlaceOut(BaseModel):
    name: str
    address: dict[str, Any]
    latitude: float
    longitude: float


class ListingOut(BaseModel):
    """One upcoming class on the marketplace."""

    class_schedule_id: uuid.UUID
    studio: StudioSummary
    class_id: uuid.UUID
    class_name: str
    class_type: str
    difficulty_level: str
    description: str | None
    start_time: datetime
    end_time: datetime
    location: PlaceOut
    distance_km: float | None = Field(description="From the point searched; null without one")
    spots_available: int = Field(description="Places the marketplace can still fill")
    credits: int = Field(description="Universal credits it costs through the marketplace")
    price: int | None = Field(description="Drop-in price by card, minor units; null: credits only")
    currency: str
    timezone: str = Field(description="The studio's time zone (IANA)")


class SearchPage(BaseModel):
    items: list[ListingOut]
    next_cursor: str | None = None


class MarketplaceBookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_schedule_id: uuid.UUID
    pay_with: Literal["credits", "card"] = Field(
        default="credits", description="Universal credits, or the class's price by card"
    )
    credits_to_use: StrictInt | None = Field(
        default=None, ge=0, le=1000, description="Optional: refused if the price differs"
    )


class MarketplaceBookingOut(BookingOut):
    studio: StudioSummary


class TermsOut(BaseModel):
    payout_rate: int = Field(description="Minor units one universal credit pays the studio")
    commission_basis_points: int = Field(description="The platform's share (1% = 100)")
    floor_price: int = Field(description="The least the studio takes home per seat")
    currency: str
    marketplace_enabled: bool


class TermsIn(BaseModel):
    """A studio's admins set its floor price; the platform operator also sets the payout
    rate and commission (null: back to the platform's default)."""

    model_config = ConfigDict(extra="forbid")

    floor_price: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    payout_rate: StrictInt | None = Field(default=None, gt=0, le=100_000_000)
    commission_basis_points: StrictInt | None = Field(default=None, ge=0, le=9_999)


class StatementLine(BaseModel):
    booking_id: uuid.UUID
    booked_at: datetime
    class_name: str
    start_time: datetime
    member_name: str
    status: str
    paid_with: Literal["credits", "card"]
    credits: int
    gross: int
    commission: int
    net: int


class StatementOut(BaseModel):
    """A studio's marketplace bookings made in a period and what they pay it."""

    period_from: datetime
    period_to: datetime
    currency: str
    bookings: int
    credits: int
    gross: int
    commission: int
    net: int
    lines: list[StatementLine]
