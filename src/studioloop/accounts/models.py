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
)

# erased: anonymised on request (privacy/); the row stays for what points at it.
USER_STATUSES = ("active", "inactive", "banned", "erased")
ROLES = ("owner", "admin", "instructor", "member")
MEMBERSHIP_STATUSES = ("active", "inactive", "invited")
CODE_PURPOSES = ("verify_email", "password_reset")
AUDIT_ACTIONS = (
    "invited",
    "reinvited",
    "invitation_revoked",
    "invitation_accepted",
    "role_changed",
    "status_changed",
    "joined",
)


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
    # When they accepted the terms and the privacy notice at sign-up (None: before these
    # were asked, or an API client that shows its own).
    terms_accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_platform_owner: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of the secret calendar-feed URL; bumping it retires the old URL.
    calendar_feed_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class UserTenantRole(TenantPrimaryKey, Base):
    """A user's membership of one tenant, with the role they hold there.

    A pending invitation is a row too (status `invited`): it has no user yet, only the
    invited person's email and name, and the hash of a single-use token that was emailed to
    them. Accepting it links the user and clears the token fields.
    """

    __tablename__ = "user_tenant_roles"
    __table_args__ = (
        # tenant_id leads so the constraint stays valid when tables are distributed by tenant.
        UniqueConstraint("tenant_id", "user_id"),
        UniqueConstraint("tenant_id", "invited_email"),
        Index("ix_user_tenant_roles_user_id", "user_id"),
        CheckConstraint(f"role IN {ROLES}", name="role"),
        CheckConstraint(f"status IN {MEMBERSHIP_STATUSES}", name="status"),
        CheckConstraint("user_id IS NOT NULL OR invited_email IS NOT NULL", name="user_or_email"),
        # Exactly the unlinked rows are invitations, and each carries a live token.
        CheckConstraint("(status = 'invited') = (user_id IS NULL)", name="invited_unlinked"),
        CheckConstraint(
            "status <> 'invited' OR (invitation_token_hash IS NOT NULL "
            "AND invitation_expires_at IS NOT NULL)",
            name="invitation_token",
        ),
        CheckConstraint("invited_email = lower(invited_email)", name="invited_email_lower"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), server_default=text("'active'"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The invitation: who was asked, by whom and when. The invited_* names stand in for the
    # user's own until the invitation is accepted.
    invited_email: Mapped[str | None] = mapped_column(String(320))
    invited_first_name: Mapped[str | None] = mapped_column(String(100))
    invited_last_name: Mapped[str | None] = mapped_column(String(100))
    invited_phone: Mapped[str | None] = mapped_column(String(32))
    # Only a hash is stored, as for refresh tokens: a database leak cannot be turned into
    # memberships. Globally unique because acceptance looks the token up across tenants.
    invitation_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invitation_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invited_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    # What members read about a teacher at this studio (the studio page, class pages).
    bio: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class MembershipAudit(TenantPrimaryKey, Base):
    """Append-only history of memberships: invitations, acceptances, joins, role and status
    changes. The app role may only insert and read (UPDATE and DELETE are revoked), so the
    history cannot be rewritten. No foreign keys to memberships or users: the history must
    outlive a revoked invitation or a deleted account."""

    __tablename__ = "membership_audit"
    __table_args__ = (
        CheckConstraint(f"action IN {AUDIT_ACTIONS}", name="action"),
        Index("ix_membership_audit_tenant_user", "tenant_id", "user_id", "created_at"),
        Index("ix_membership_audit_tenant_membership", "tenant_id", "membership_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    membership_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The member concerned; NULL while the membership is still an invitation.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Who did it; NULL when the system did (demo data, operator commands).
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # clock_timestamp(), not now(): several rows written in one transaction keep their order.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )


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


class MemberNote(TenantPrimaryKey, Base):
    """A note staff keep about one of the studio's people (injuries, preferences, a word
    from the front desk). Staff only: no member-facing page or API returns it."""

    __tablename__ = "member_notes"
    __table_args__ = (Index("ix_member_notes_member", "tenant_id", "user_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
