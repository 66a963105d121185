"""Payments, their append-only history, and the raw webhook events that move them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    UUIDPrimaryKey,
    one_of,
    tenant_foreign_key,
)

PAYMENT_STATUSES = (
    "pending",
    "requires_action",
    "succeeded",
    "failed",
    "canceled",
    "partially_refunded",
    "refunded",
)
# subscription: a membership's period (first, renewal); subscription_upgrade: the prorated
# difference for the rest of a period on a dearer plan.
PAYMENT_PURPOSES = ("credit_pack", "class_booking", "subscription", "subscription_upgrade")
PROVIDERS = ("sandbox", "stripe", "yoco")


class Payment(TenantPrimaryKey, Timestamps, Base):
    """Money a member pays a studio, in minor units of the studio's currency."""

    __tablename__ = "payments"
    __table_args__ = (
        tenant_foreign_key("package_id", "credit_packages", ondelete="SET NULL"),
        tenant_foreign_key("booking_id", "bookings", ondelete="SET NULL"),
        tenant_foreign_key("subscription_id", "subscriptions", ondelete="SET NULL"),
        tenant_foreign_key("plan_id", "membership_plans", ondelete="SET NULL"),
        tenant_foreign_key("credit_lot_id", "credit_lots", ondelete="SET NULL"),
        CheckConstraint(f"status IN {one_of(PAYMENT_STATUSES)}", name="status"),
        CheckConstraint(f"purpose IN {one_of(PAYMENT_PURPOSES)}", name="purpose"),
        CheckConstraint(f"provider IN {one_of(PROVIDERS)}", name="provider"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # Never refund more than was captured, whatever the code above does.
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount", name="refunded"),
        UniqueConstraint("tenant_id", "provider", "provider_reference"),
        Index("ix_payments_user", "user_id", "created_at"),
        Index("ix_payments_booking", "booking_id"),
        Index("ix_payments_subscription", "subscription_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT")
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    package_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A class paid for by card: the booking whose seat is held until this succeeds.
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A membership's first payment or a renewal, or an upgrade's prorated difference.
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    description: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    # The money lands on the platform's account (the sandbox, Stripe without a connected
    # account), so the platform owes it to the studio: it enters the payout ledger.
    platform_collected: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The platform's fee on it, fixed when the checkout opened (PLATFORM_FEE_BASIS_POINTS
    # then), whatever the setting is when the money arrives.
    platform_fee: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Where the member pays; kept so a retried booking sends them to the same checkout.
    checkout_url: Mapped[str | None] = mapped_column(Text)
    amount_refunded: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(32), server_default=text("'pending'"))
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lot a credit-pack payment granted: a refund takes its credits back from there.
    credit_lot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # What the amount is made of, when more than one thing: [{description, quantity,
    # unit_amount, amount}] in minor units, adding up to `amount` (a renewal with usage
    # past a tier's soft caps). Empty: the description is the whole of it.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class PaymentEvent(TenantPrimaryKey, Base):
    """One change of a payment's status; append-only (the app may not update or delete)."""

    __tablename__ = "payment_events"
    __table_args__ = (
        tenant_foreign_key("payment_id", "payments", ondelete="CASCADE"),
        Index("ix_payment_events_payment", "payment_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))  # api, webhook, job
    provider_event_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookEvent(UUIDPrimaryKey, Base):
    """A provider's webhook as received (signature already verified), stored once per
    (provider, event id) so a replay changes nothing. Platform-level: the studio is only
    known after reading the event, so this table has no tenant_id."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # the raw body, as signed
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(100))


class PaymentRefund(TenantPrimaryKey, Base):
    """Money given back on a payment; one row per refund, append-only."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        tenant_foreign_key("payment_id", "payments", ondelete="CASCADE"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("credits_revoked >= 0", name="credits_revoked"),
        Index("ix_payment_refunds_payment", "payment_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    reason: Mapped[str] = mapped_column(Text)
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    credits_revoked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReceiptCounter(Base):
    """The last receipt number a studio issued. Taking the next one updates this row in
    the payment's own transaction, so a rolled-back payment leaves no gap."""

    __tablename__ = "receipt_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class Receipt(TenantPrimaryKey, Base):
    """What a member paid, as the studio's numbered receipt (rendered to PDF on request)."""

    __tablename__ = "receipts"
    __table_args__ = (
        tenant_foreign_key("payment_id", "payments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "payment_id"),
        CheckConstraint("number > 0", name="number_positive"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # minor units, VAT included
    vat_amount: Mapped[int] = mapped_column(Integer)
    vat_rate_basis_points: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(255))
    # The payment's lines as they were when the receipt was issued.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProviderCredential(TenantPrimaryKey, Timestamps, Base):
    """A studio's own keys with a payment provider (Yoco), encrypted at rest
    (payments/credentials.py); only a hint of the secret key is kept readable."""

    __tablename__ = "provider_credentials"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider"),
        CheckConstraint(f"provider IN {one_of(PROVIDERS)}", name="provider"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    secret_key_encrypted: Mapped[str] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(40))  # "sk_live_…a1b2", for the settings page
    is_test: Mapped[bool] = mapped_column(Boolean)


# marketplace / commission: a marketplace booking's universal credits at the studio's payout
# rate, and the platform's commission on them; the *_refund twins reverse them.
PAYOUT_ENTRY_TYPES = (
    "payment",
    "fee",
    "refund",
    "fee_refund",
    "transfer",
    "marketplace",
    "commission",
    "marketplace_refund",
    "commission_refund",
)


class PayoutAccount(Base):
    """What the platform owes one studio: the sum of its payout entries, kept on one row
    that is locked to add entries or pay out, so two payouts cannot both send it."""

    __tablename__ = "payout_accounts"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # minor units
    transfers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PayoutEntry(TenantPrimaryKey, Base):
    """One movement of what the platform owes a studio; append-only. Positive: owed to
    the studio (a payment); negative: the platform's fee, a refund, a transfer made."""

    __tablename__ = "payout_entries"
    __table_args__ = (
        tenant_foreign_key("payment_id", "payments", ondelete="SET NULL"),
        CheckConstraint(f"entry_type IN {one_of(PAYOUT_ENTRY_TYPES)}", name="entry_type"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_payout_entries_tenant", "tenant_id", "created_at"),
        Index(
            "ix_payout_entries_booking",
            "booking_id",
            postgresql_where=text("booking_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    entry_type: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The marketplace booking it settles (no foreign key: bookings may be erased, the
    # ledger may not).
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reference: Mapped[str | None] = mapped_column(String(255))  # a transfer's id
    description: Mapped[str] = mapped_column(String(255))
    # The order entries were made in (several share one transaction's now()).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
