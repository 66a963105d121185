from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from standardwebhooks.webhooks import Webhook

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
    purpose: Literal["credit_pack", "class_booking", "subscription", "subscription_upgrade"]
    package_id: uuid.UUID | None
    booking_id: uuid.UUID | None = Field(description="A class paid for by card: its booking")
    subscription_id: uuid.UUID | None = Field(description="A membership's payment")
    description: str
    amount: int = Field(description="Minor units (cents)")
    currency: str
    amount_refunded: int
    status: PaymentStatus
    succeeded_at: datetime | None
    created_at: datetime


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(
        gt=0, description="Minor units (cents); at most what is left to refund"
    )
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


class YocoKeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: str = Field(
        pattern=r"^sk_(test|live)_[A-Za-z0-9]{8,200}$",
        description="The Yoco secret key (sk_live_… or sk_test_…), from the Yoco portal",
    )
    webhook_secret: str = Field(
        pattern=r"^whsec_[A-Za-z0-9+/]{16,200}={0,2}$",
        description="The `secret` Yoco returned when the webhook was registered (whsec_…)",
    )
    activate: StrictBool = Field(
        default=True, description="Take this studio's payments with Yoco from now on"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _a_standard_webhooks_secret(cls, value: str) -> str:
        try:
            Webhook(value)  # it must decode to a key
        except Exception:
            raise ValueError("must be the whsec_… secret Yoco gave for the webhook") from None
        return value


class ProviderKeysOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str
    key_hint: str = Field(description="The secret key's start and last four characters")
    is_test: bool = Field(description="Test keys: no real money moves")
    active: bool = Field(description="The studio's payments go through this provider now")
    webhook_url: str = Field(description="Register this address with the provider")
    updated_at: datetime


class PayoutEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    entry_type: Literal[
        "payment",
        "fee",
        "refund",
        "fee_refund",
        "transfer",
        "marketplace",
        "commission",
        "marketplace_refund",
        "commission_refund",
    ] = Field(
        description="`marketplace`/`commission`: a marketplace booking paid with universal "
        "credits and the platform's commission on it (`*_refund`: reversed on cancellation)"
    )
    amount: int = Field(description="Minor units; positive: owed to the studio")
    balance_after: int
    currency: str
    payment_id: uuid.UUID | None
    booking_id: uuid.UUID | None = Field(description="The marketplace booking it settles")
    reference: str | None = Field(description="A transfer's id with the provider")
    description: str
    created_at: datetime


class PayoutsOut(BaseModel):
    currency: str | None
    balance: int = Field(description="What the platform owes the studio now, minor units")
    entries: list[PayoutEntryOut] = Field(description="The latest movements, newest first")


class StripeConnectOut(BaseModel):
    account_id: str | None
    status: Literal["none", "pending", "connected"] = Field(
        description="pending: onboarding not finished; connected: payments go to it"
    )
    charges_enabled: bool
    payouts_enabled: bool
    onboarding_url: str | None = Field(default=None, description="Send the owner here")
