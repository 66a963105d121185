from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.credits.kinds import Kind
from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    tenant_foreign_key,
)

TRANSACTION_TYPES = tuple(kind.value for kind in Kind)
LOT_SOURCES = ("purchase", "adjustment", "grant", "transfer")


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class CreditAccount(TenantPrimaryKey, Timestamps, Base):
    """A member's credits at one studio (seed 002 MemberCredit).

    `balance` always equals the sum of the account's ledger; both change in one transaction.
    """

    __tablename__ = "credit_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    balance: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_purchased: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class CreditLot(TenantPrimaryKey, Base):
    """Credits that arrived together and expire together; used soonest-expiring first."""

    __tablename__ = "credit_lots"
    __table_args__ = (
        tenant_foreign_key("account_id", "credit_accounts", ondelete="CASCADE"),
        tenant_foreign_key("package_id", "credit_packages", ondelete="SET NULL"),
        CheckConstraint("remaining >= 0 AND remaining <= original", name="remaining"),
        CheckConstraint("original > 0", name="original_positive"),
        CheckConstraint(f"source IN {LOT_SOURCES}", name="source"),
        Index(
            "ix_credit_lots_account_open",
            "account_id",
            "expires_at",
            postgresql_where=text("remaining > 0"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    source: Mapped[str] = mapped_column(String(16))
    original: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    package_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CreditTransaction(TenantPrimaryKey, Base):
    """The append-only ledger (the app role may not UPDATE or DELETE it), written only by
    credits/ledger.py."""

    __tablename__ = "credit_transactions"
    __table_args__ = (
        tenant_foreign_key("account_id", "credit_accounts", ondelete="CASCADE"),
        tenant_foreign_key("lot_id", "credit_lots", ondelete="SET NULL"),
        CheckConstraint(f"type IN {TRANSACTION_TYPES}", name="type"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after"),
        Index("ix_credit_transactions_account_created", "account_id", "created_at"),
        Index(
            "ix_credit_transactions_booking",
            "booking_id",
            postgresql_where=text("booking_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    lot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CreditPackage(TenantPrimaryKey, Timestamps, Base):
    """A pack a studio sells: so many credits, valid so many days, at a price."""

    __tablename__ = "credit_packages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("validity_days IS NULL OR validity_days > 0", name="validity_days"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    credits: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)  # minor units, tenant currency
    validity_days: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(Integer, server_default=text("0"))
