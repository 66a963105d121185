from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from studioloop.core.schemas import omittable
from studioloop.payments.schemas import PaymentOut

Interval = Literal["month", "year"]
SubscriptionStatus = Literal["incomplete", "active", "past_due", "suspended", "canceled"]


class UsageCapIn(BaseModel):
    """A tier's allowance of one meter per period."""

    model_config = ConfigDict(extra="forbid")

    included: StrictInt = Field(ge=0, le=1_000_000_000_000)
    hard: StrictBool = Field(
        default=True, description="True: usage past it is refused; false: billed as overage"
    )
    overage_unit_price: StrictInt | None = Field(
        default=None, ge=0, le=100_000_000, description="Minor units per unit past `included`"
    )


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    price: StrictInt = Field(gt=0, le=100_000_000, description="Minor units (cents) per interval")
    interval: Interval = "month"
    credits_per_period: StrictInt | None = Field(
        default=None, gt=0, le=1000, description="Credits granted each period (they expire with it)"
    )
    unlimited: StrictBool = Field(default=False, description="Book covered classes without credits")
    class_types: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Class types unlimited bookings cover; empty: every type",
    )
    usage_caps: dict[str, StrictInt | UsageCapIn] = Field(
        default_factory=dict,
        max_length=50,
        description=(
            "Units included per period by meter slug: a number (a hard cap), or an object "
            "for a soft cap billed past it, e.g. {'ai-reviews': 200, 'video-checkins': "
            "{'included': 8, 'hard': false, 'overage_unit_price': 5000}} (docs/usage.md)"
        ),
    )
    feature_entitlements: list[str] = Field(default_factory=list, max_length=100)


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = omittable(min_length=2, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    price: StrictInt = omittable(
        gt=0, le=100_000_000, description="Applies from members' next renewal"
    )
    credits_per_period: StrictInt | None = Field(default=None, gt=0, le=1000)
    unlimited: StrictBool = omittable()
    class_types: list[str] = omittable(max_length=50)
    usage_caps: dict[str, StrictInt | UsageCapIn] = omittable(max_length=50)
    feature_entitlements: list[str] = omittable(max_length=100)
    is_active: StrictBool = omittable(description="False: no longer sold")


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    price: int
    interval: Interval
    credits_per_period: int | None
    unlimited: bool
    class_types: list[str]
    usage_caps: dict[str, Any]
    feature_entitlements: list[str]
    is_active: bool
    created_at: datetime


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: uuid.UUID


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    plan_id: uuid.UUID
    next_plan_id: uuid.UUID | None = Field(description="A downgrade, from the next renewal")
    status: SubscriptionStatus
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    paused_from: datetime | None
    paused_until: datetime | None
    renews_automatically: bool = Field(
        description="A saved card is charged at renewal; otherwise a payment link is sent"
    )
    failed_attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


class SubscriptionCheckoutOut(BaseModel):
    subscription: SubscriptionOut
    payment: PaymentOut | None
    checkout_url: str | None = Field(description="Send the member here to pay, if anything")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    immediately: StrictBool = Field(
        default=False, description="Staff only: end it now instead of at the period's end"
    )


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date = Field(description="First day of the pause (today or later)")
    end: date = Field(description="The day it is active again; at most 90 days later")


class ChangePlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: uuid.UUID
