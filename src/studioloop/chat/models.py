"""Support chat: guests, rooms (support tickets and direct conversations), messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import (
    Base,
    TenantPrimaryKey,
    Timestamps,
    one_of,
    tenant_foreign_key,
)

ROOM_KINDS = ("support", "direct")
ROOM_STATUSES = ("open", "pending", "closed")
ABOUT_KINDS = ("member", "booking", "payment")


def _tenant() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class ChatGuest(TenantPrimaryKey, Base):
    """Someone on a studio's website who asked for help without an account."""

    __tablename__ = "chat_guests"

    tenant_id: Mapped[uuid.UUID] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChatRoom(TenantPrimaryKey, Timestamps, Base):
    """A conversation: a support ticket opened by a guest or member, or a direct one
    between a member and the studio's staff."""

    __tablename__ = "chat_rooms"
    __table_args__ = (
        tenant_foreign_key("opened_by_guest_id", "chat_guests", ondelete="CASCADE"),
        CheckConstraint(f"kind IN {one_of(ROOM_KINDS)}", name="kind"),
        CheckConstraint(f"status IN {one_of(ROOM_STATUSES)}", name="status"),
        CheckConstraint(
            f"about_kind IS NULL OR about_kind IN {one_of(ABOUT_KINDS)}", name="about_kind"
        ),
        CheckConstraint(
            "(opened_by_user_id IS NULL) <> (opened_by_guest_id IS NULL)", name="one_opener"
        ),
        Index("ix_chat_rooms_inbox", "tenant_id", "status", "last_message_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant()
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    subject: Mapped[str] = mapped_column(String(200))
    opened_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    opened_by_guest_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    # What the ticket is about (a member, a booking, a payment), for staff to open.
    about_kind: Mapped[str | None] = mapped_column(String(16))
    about_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The `seq` of the room's newest message (0: none yet), kept by service.post under the
    # room's lock: the next message names it as the one before it, without reading the
    # room's messages.
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ChatMessage(TenantPrimaryKey, Base):
    """A message. Append-only; `seq` orders a room's messages and lets a reconnecting
    client ask for what it missed."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        tenant_foreign_key("room_id", "chat_rooms", ondelete="CASCADE"),
        tenant_foreign_key("sender_guest_id", "chat_guests", ondelete="CASCADE"),
        CheckConstraint("(sender_user_id IS NULL) <> (sender_guest_id IS NULL)", name="one_sender"),
        Index("ix_chat_messages_room_seq", "room_id", "seq"),
        # A sender's messages by time: the per-minute sending limit (service.post) counts
        # the last minute's, and deleting a guest or a user finds theirs.
        Index(
            "ix_chat_messages_guest_sent",
            "sender_guest_id",
            "created_at",
            postgresql_where=text("sender_guest_id IS NOT NULL"),
        ),
        Index(
            "ix_chat_messages_user_sent",
            "sender_user_id",
            "created_at",
            postgresql_where=text("sender_user_id IS NOT NULL"),
        ),
        # The identity makes seq unique; the constraint carries tenant_id for Citus.
        UniqueConstraint("tenant_id", "seq"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant()
    room_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    sender_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    sender_guest_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    sender_name: Mapped[str] = mapped_column(String(200))
    is_staff: Mapped[bool] = mapped_column(server_default=text("false"))
    body: Mapped[str] = mapped_column(Text)
    # A file sent with the message (an image or a PDF), kept in storage under this key.
    attachment_key: Mapped[str | None] = mapped_column(String(300))
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChatReadMarker(Base):
    """How far one participant has read a room (for unread counts and read receipts)."""

    __tablename__ = "chat_read_markers"
    __table_args__ = (tenant_foreign_key("room_id", "chat_rooms", ondelete="CASCADE"),)

    tenant_id: Mapped[uuid.UUID] = _tenant()
    room_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # "user:<uuid>" or "guest:<uuid>"; staff share nothing: each has their own marker.
    reader: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_read_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
