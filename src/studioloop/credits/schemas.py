from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from studioloop.core.schemas import omittable

TransactionType = Literal["purchase", "usage", "refund", "transfer", "expiry", "adjustment"]


class LotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    original: int
    remaining: int
    expires_at: datetime | None
    created_at: datetime


class TransactionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: TransactionType
    amount: int
    balance_after: int
    booking_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class CreditsOut(BaseModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None = Field(
        description="The studio; null for the member's universal marketplace account"
    )
    credits_balance: int
    credits_total_purchased: int
    next_expiry: datetime | None
    lots: list[LotOut]
    transactions: list[TransactionOut]


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(
        ge=-100_000, le=100_000, description="Positive adds credits, negative removes them"
    )
    reason: str = Field(min_length=3, max_length=500)
    valid_days: StrictInt | None = Field(
        default=None, ge=1, le=3650, description="For added credits: days until they expire"
    )

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must add or remove at least one credit")
        return value


class PackageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    credits: StrictInt = Field(ge=1, le=1000)
    # A pack is sold through a checkout, which takes a positive amount; credits given for
    # free are an adjustment (POST .../credits/adjustments), which the ledger records.
    price: StrictInt = Field(ge=1, description="Minor units (cents) in the studio's currency")
    validity_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    is_active: StrictBool = True
    sort_order: StrictInt = 0


class PackageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = omittable(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    credits: StrictInt = omittable(ge=1, le=1000)
    price: StrictInt = omittable(ge=1)
    validity_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    is_active: StrictBool = omittable()
    sort_order: StrictInt = omittable()


class PackageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    credits: int
    price: int
    currency: str = "ZAR"
    validity_days: int | None
    is_active: bool
