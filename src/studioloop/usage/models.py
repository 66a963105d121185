"""Usage metering: what a creator counts (meters), what their app reports (events), and
the running totals per customer and period that limits and bills read (aggregates).

Events are written once and never read on the ingestion path: the aggregates are updated
with each batch in the same transaction, so a limit check reads one row however many
events there are. Events are kept for the rebuild command (`studioloop usage rebuild`)
and for retention, in monthly partitions.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, TenantPrimaryKey, one_of, tenant_foreign_key

AGGREGATIONS = ("count", "sum", "max", "unique_count", "latest")
RESETS = ("billing_period", "month", "never")
# Monthly partitions of usage_events are named after this and their month (2026_12).
EVENT_PARTITION_PREFIX = "usage_events_"


def _tenant() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class UsageMeter(TenantPrimaryKey, Base):
    """What to count: events of one name (optionally only those whose properties contain
    `property_filter`), aggregated over `value_property` (or the event's `value`)."""

    __tablename__ = "usage_meters"
    __table_args__ = (
        UniqueConstraint("tenant_id", "slug"),
        CheckConstraint(f"aggregation IN {one_of(AGGREGATIONS)}", name="aggregation"),
        CheckConstraint(f"reset IN {one_of(RESETS)}", name="reset"),
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name="slug_format"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant()
    slug: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(120))
    event_name: Mapped[str] = mapped_column(String(120))
    property_filter: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    aggregation: Mapped[str] = mapped_column(String(16))
    # The property aggregated (sum, max, latest: a number; unique_count: any value); None:
    # the event's own `value` (1 when it has none).
    value_property: Mapped[str | None] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(40), server_default=text("'units'"))
    reset: Mapped[str] = mapped_column(String(16), server_default=text("'billing_period'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageEventKey(Base):
    """The ids of events received, one row each: a retried event finds its id here and
    changes nothing. (The events' own table is partitioned by month, and a unique key over
    partitions must include the month, which a retry without a timestamp would not have.)"""

    __tablename__ = "usage_event_keys"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "event_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class UsageEvent(Base):
    """An event as reported, with the customer resolved to a member and the billing period
    it fell in (the customer's subscription period then; NULL: none, so calendar months):
    enough for the rebuild to recompute every aggregate without the subscription history."""

    __tablename__ = "usage_events"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "occurred_at", "event_id"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_name: Mapped[str] = mapped_column(String(120))
    value: Mapped[Decimal | None] = mapped_column(Numeric)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    billing_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    billing_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class UsageAggregate(Base):
    """A meter's running total for one customer and period."""

    __tablename__ = "usage_aggregates"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "meter_id", "user_id", "period_start"),
        tenant_foreign_key("meter_id", "usage_meters", ondelete="CASCADE"),
        Index("ix_usage_aggregates_period", "tenant_id", "period_start", "meter_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    meter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    value: Mapped[Decimal] = mapped_column(Numeric, server_default=text("0"))
    events: Mapped[int] = mapped_column(server_default=text("0"))
    # For `latest`: when the event whose value is kept happened.
    latest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UsageUniqueValue(Base):
    """The distinct values a `unique_count` meter has seen per customer and period: a
    value counts once when its row is first inserted."""

    __tablename__ = "usage_unique_values"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "meter_id", "user_id", "period_start", "value"),
        tenant_foreign_key("meter_id", "usage_meters", ondelete="CASCADE"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    meter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[str] = mapped_column(Text)
