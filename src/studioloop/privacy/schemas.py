"""What an erasure will do (the plan), and what it did (the record)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

BlockerCode = Literal[
    "ACTIVE_MEMBERSHIP",
    "MONEY_OWED",
    "PENDING_PAYMENT",
    "CARD_HOLD",
    "UPCOMING_BOOKINGS",
    "STUDIO_OWNER",
    "PLATFORM_OPERATOR",
]


class ErasedItem(BaseModel):
    category: str
    description: str = Field(description="What goes, in plain words")
    count: int


class KeptItem(BaseModel):
    category: str
    description: str = Field(description="What stays, in plain words")
    reason: str
    count: int
    keep_until: date | None = Field(
        None, description="When it may go; null: it holds nothing that names you"
    )


class Blocker(BaseModel):
    code: BlockerCode
    reason: str = Field(description="What to do first, in plain words")
    studio: str | None = None
    studio_slug: str | None = Field(None, description="The studio's address name, for links")
    until: date | None = Field(None, description="When it ends by itself, where known")


class ErasurePlan(BaseModel):
    user_id: uuid.UUID
    already_erased: bool
    can_erase: bool
    erased: list[ErasedItem]
    kept: list[KeptItem]
    blockers: list[Blocker]


class ErasureConfirm(BaseModel):
    password: str = Field(min_length=1, max_length=256, description="Your current password")


class OperatorErasure(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="Why (a request's reference)")


class ErasureRecordOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    requested_by: str
    reason: str | None
    counts: dict[str, int]
    completed_at: datetime


class UserFound(BaseModel):
    id: uuid.UUID
    email: EmailStr | str
    first_name: str
    last_name: str
    status: str
    created_at: datetime
