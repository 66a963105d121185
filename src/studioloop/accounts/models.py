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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, Timestamps, UUIDPrimaryKey

USER_STATUSES = ("active", "inactive", "banned")
ROLES = ("owner", "admin", "instructor", "member")
MEMBERSHIP_STATUSES = ("active", "inactive")
CODE_PURPOSES = ("verify_email", "password_reset")


class User(UUIDPrimaryKey, Timestamps, Base):
    """A person. Platform-wide: one account may belong to many tenants with different roles."""

    __tablename__ = "users"
    __table_args__ = (
        # Emails are stored lower-cased so uniqueness is case-insensitive.
        CheckConstraint("email = lower(email)", name="email_lower"),
        CheckConstraint(f"status IN {USER_STATUSES}", name="status"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    profile_image_url: Mapped[str | None] = mapped_column(String(2048))
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(32), server_default=text("'active'"))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_platform_owner: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserTenantRole(UUIDPrimaryKey, Base):
    """A user's membership of one tenant, with the role they hold there."""

    __tablename__ = "user_tenant_roles"
    __table_args__ = (
        # tenant_id leads so the constraint stays valid when tables are distributed by tenant.
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_user_tenant_roles_user_id", "user_id"),
        CheckConstraint(f"role IN {ROLES}", name="role"),
        CheckConstraint(f"status IN {MEMBERSHIP_STATUSES}", name="status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), server_default=text("'active'"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RefreshToken(UUIDPrimaryKey, Base):
    """An opaque refresh token, stored only as a hash.

    Tokens rotate on every use; all tokens issued from one sign-in share a `family_id`, so
    presenting an already-used token (a sign of theft) revokes the whole family.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VerificationCode(UUIDPrimaryKey, Base):
    """A short numeric code sent by email (sign-up verification, password reset)."""

    __tablename__ = "verification_codes"
    __table_args__ = (
        CheckConstraint(f"purpose IN {CODE_PURPOSES}", name="purpose"),
        Index("ix_verification_codes_user_purpose", "user_id", "purpose"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    purpose: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
