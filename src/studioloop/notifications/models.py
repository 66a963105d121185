from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, UUIDPrimaryKey

EMAIL_STATUSES = ("queued", "sent", "recorded", "failed")


class EmailMessage(UUIDPrimaryKey, Base):
    """Every email the platform sends, kept as a delivery log.

    Platform-level mail (verification codes, password resets) belongs to no tenant, so this
    table has no tenant_id. `status = recorded` means no SMTP server is configured: the
    message was kept for /dev/outbox instead of being delivered.
    """

    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {EMAIL_STATUSES}", name="status"),
        {"comment": "Outgoing email and its delivery state"},
    )

    to_address: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailAttachment(UUIDPrimaryKey, Base):
    """A file sent with an email (a receipt's PDF), kept with the message so the delivery
    job (and a retry) sends exactly what the transaction that wrote the email meant."""

    __tablename__ = "email_attachments"

    email_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("email_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
