from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base


class MarketplaceTerms(Base):
    """How one studio sells through the marketplace. No row: the platform's defaults.

    `payout_rate` (what one universal credit is worth to the studio, minor units of its
    currency) and `commission_basis_points` are the platform's per-studio overrides;
    `floor_price` is the studio's own choice: the least it takes home for a marketplace
    seat, so a class never sells there for fewer credits than that covers.
    """

    __tablename__ = "marketplace_terms"
    __table_args__ = (
        CheckConstraint("payout_rate IS NULL OR payout_rate > 0", name="payout_rate"),
        # Below 100%: a seat that pays the studio nothing could never reach a floor price.
        CheckConstraint(
            "commission_basis_points IS NULL OR commission_basis_points BETWEEN 0 AND 9999",
            name="commission",
        ),
        CheckConstraint("floor_price >= 0", name="floor_price"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    payout_rate: Mapped[int | None] = mapped_column(Integer)
    commission_basis_points: Mapped[int | None] = mapped_column(Integer)
    floor_price: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
