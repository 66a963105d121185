"""Membership plans a studio sells, and members' subscriptions to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    one_of,
    tenant_foreign_key,
)

INTERVALS = ("month", "year")
# incomplete: the first payment is not in yet. past_due: a renewal is unpaid (still
# entitled while it is retried). suspended: the retries ran out (not entitled).
SUBSCRIPTION_STATUSES = ("incomplete", "active", "past_due", "suspended", "canceled")
ENTITLED_STATUSES = ("active", "past_due")


class MembershipPlan(TenantPrimaryKey, Timestamps, Base):
    """A membership (or a creator's tier) on sale: a price per month or year, credits each
    period or unlimited classes of some types, and caps and features for metering."""

    __tablename__ = "membership_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(f"interval IN {one_of(INTERVALS)}", name="interval"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("credits_per_period IS NULL OR credits_per_period > 0", name="credits"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[int] = mapped_column(Integer)  # minor units, per interval
    interval: Mapped[str] = mapped_column(String(8))
    credits_per_period: Mapped[int | None] = mapped_column(Integer)
    unlimited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Class types unlimited bookings cover; empty: every type.
    class_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(60)), server_default=text("'{}'::varchar[]")
    )
    usage_caps: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    feature_entitlements: Mapped[list[str]] = mapped_column(
        ARRAY(String(80)), server_default=text("'{}'::varchar[]")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Where the plan stands in the studio's list (smaller first, then price and name).
    sort_order: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Subscription(TenantPrimaryKey, Timestamps, Base):
    """A member's membership of a plan, renewed by our own job (docs/decisions/0002)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        tenant_foreign_key("plan_id", "membership_plans", ondelete="RESTRICT"),
        tenant_foreign_key("next_plan_id", "membership_plans", ondelete="SET NULL"),
        CheckConstraint(f"status IN {one_of(SUBSCRIPTION_STATUSES)}", name="status"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
        CheckConstraint("paused_from IS NULL OR paused_until > paused_from", name="pause_range"),
        # One live subscription per member and studio; a new one after it ends.
        Index(
            "uq_subscriptions_one_live_per_member",
            "tenant_id",
            "user_id",
            unique=True,
            postgresql_where=text("status IN ('incomplete', 'active', 'past_due')"),
        ),
        Index("ix_subscriptions_renewal", "status", "current_period_end"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT")
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # A downgrade waits for the next renewal.
    next_plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'incomplete'"))
    current_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(16))
    # What renewals charge without the member present (a provider's saved card or
    # mandate); None: each renewal is paid through a checkout link instead.
    payment_method_ref: Mapped[str | None] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
