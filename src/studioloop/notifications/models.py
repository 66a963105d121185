"""Messages to people, their delivery state, and what each member wants to receive."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, TenantPrimaryKey, UUIDPrimaryKey, one_of

CHANNELS = ("email", "whatsapp", "sms", "push")
# queued: waiting for its job (or for quiet hours to end). sending: handed to the provider.
# sent / delivered / read: what the provider has told us so far. recorded: no SMTP server
# is configured, so the email was kept for /dev/outbox. skipped: not sent on purpose (the
# member opted out meanwhile, or it would have arrived too late to matter).
STATUSES = ("queued", "sent", "delivered", "read", "recorded", "failed", "skipped")
FINISHED_STATUSES = ("sent", "delivered", "read", "recorded", "failed", "skipped")


class Notification(UUIDPrimaryKey, Base):
    """One delivery of one message on one channel: the delivery log and the history staff
    and members see. A critical message that fails on one channel gets a new row for the
    next (`fallback_from_id` points back).

    Platform messages (sign-up codes, password resets) belong to no studio: `tenant_id` is
    null, and row-level security shows them only outside any studio's context.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(STATUSES)}", name="status"),
        CheckConstraint(f"channel IN {one_of(CHANNELS)}", name="channel"),
        # A business event is sent once, however often it is reported. (A critical message's
        # fallbacks point back to it through fallback_from_id and carry no key.)
        Index(
            "uq_notifications_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=text("dedup_key IS NOT NULL"),
        ),
        Index("ix_notifications_history", "tenant_id", "user_id", "created_at"),
        {"comment": "Outgoing messages (email, WhatsApp, SMS, push) and their delivery state"},
    )

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    event: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), server_default=text("'email'"))
    # An email address, a phone number in E.164, or "push" (every device of the user).
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # Channel specifics: the WhatsApp template and its parameters, the push title and link,
    # the email's one-click unsubscribe address.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    critical: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    fallback_from_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("notifications.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # Quiet hours push a message to this time; past `not_after` it is no longer worth sending
    # (a class reminder once the class has started).
    send_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailAttachment(UUIDPrimaryKey, Base):
    """A file sent with an email (a receipt's PDF, a booking's QR code), kept with the
    message so the delivery job (and a retry) sends exactly what the transaction that wrote
    the email meant."""

    __tablename__ = "email_attachments"

    email_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class NotificationPreference(TenantPrimaryKey, Base):
    """What one member wants from one studio. No row means the studio's defaults."""

    __tablename__ = "notification_preferences"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        CheckConstraint(
            "(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)", name="quiet_hours_pair"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    # Channels in the order the member prefers them; empty: the studio's default order.
    channels: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), server_default=text("'{}'::varchar[]")
    )
    booking_updates: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    reminders: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Hours before a class; null: the studio's setting.
    reminder_hours: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    marketing: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    quiet_hours_start: Mapped[time | None] = mapped_column(Time)
    quiet_hours_end: Mapped[time | None] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ChannelOptOut(Base):
    """An address that asked not to be messaged on a channel at all (WhatsApp "STOP").
    Kept by address, not by member: the request came from the phone, whoever owns it."""

    __tablename__ = "channel_opt_outs"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PushSubscription(UUIDPrimaryKey, Base):
    """A browser's Web Push subscription (from `PushManager.subscribe`) for a user."""

    __tablename__ = "push_subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationTemplate(TenantPrimaryKey, Base):
    """A studio's own wording for a message, replacing the built-in template."""

    __tablename__ = "notification_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event", "kind", "locale"),
        CheckConstraint("kind IN ('email', 'text')", name="kind"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(String(64))
    # email: subject, text and HTML body. text: the short form for SMS and push.
    kind: Mapped[str] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(16), server_default=text("'en'"))
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
