from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PaymentStatus = Literal[
    "pending",
    "requires_action",
    "succeeded",
    "failed",
    "canceled",
    "partially_refunded",
    "refunded",
]


class CreditPurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package_id: uuid.UUID = Field(description="A credit package on sale at this studio")


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    purpose: str
    package_id: uuid.UUID | None
    description: str
    amount: int = Field(description="Minor units (cents)")
    currency: str
    amount_refunded: int
    status: PaymentStatus
    succeeded_at: datetime | None
    created_at: datetime


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, description="Minor units (cents); at most what is left to refund")
    reason: str = Field(min_length=3, max_length=500)


class RefundOut(BaseModel):
    id: uuid.UUID
    amount: int
    reason: str
    credits_revoked: int = Field(description="Credits bought with this money, taken back")
    credits_already_used: int = Field(
        description="Credits this refund paid for that the member had already spent (kept)"
    )
    created_at: datetime
    payment: PaymentOut


class CheckoutOut(BaseModel):
    payment: PaymentOut
    checkout_url: str = Field(description="Send the member here to pay")


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="True when this event had already been received")
