from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, Timestamps, UUIDPrimaryKey

TENANT_STATUSES = ("active", "trial", "suspended", "cancelled")
SUBSCRIPTION_TIERS = ("starter", "growth", "pro", "enterprise")
TENANT_KINDS = ("studio", "gym", "creator", "training_provider")
# The one tenant the platform itself owns: it holds what belongs to no studio (members'
# universal marketplace credits), so those rows get the same ledger code and row-level
# security as every studio's. It is never resolved from a slug, id header or host.
PLATFORM_KIND = "platform"
PLATFORM_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
PLATFORM_TENANT_SLUG = "marketplace"  # reserved: no studio can take it


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    """A studio, gym, creator or training provider. The root of all tenant-owned data.

    This table is the directory of tenants (public facts such as name and slug), so it has
    no `tenant_id` and no row-level security; everything a tenant owns lives elsewhere.
    """

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(f"status IN {TENANT_STATUSES}", name="status"),
        CheckConstraint(f"subscription_tier IN {SUBSCRIPTION_TIERS}", name="subscription_tier"),
        CheckConstraint(f"kind IN {(*TENANT_KINDS, PLATFORM_KIND)}", name="kind"),
        CheckConstraint("slug ~ '^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$'", name="slug_format"),
        CheckConstraint("custom_domain = lower(custom_domain)", name="custom_domain_lower"),
        # Typo-tolerant marketplace search on studio names (pg_trgm).
        Index(
            "ix_tenants_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(32), server_default=text("'studio'"))
    email: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    subscription_tier: Mapped[str] = mapped_column(String(32), server_default=text("'starter'"))
    marketplace_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(32), server_default=text("'active'"))
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'Africa/Johannesburg'"))
    currency: Mapped[str] = mapped_column(String(3), server_default=text("'ZAR'"))
    # The studio's logo in file storage (storage/), as a PNG; on receipts and pages.
    logo_key: Mapped[str | None] = mapped_column(String(255))
    custom_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    custom_domain_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
