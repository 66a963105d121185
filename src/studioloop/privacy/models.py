"""The record that a person's data was erased: when, by whom, why, and how much."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.db.base import Base, UUIDPrimaryKey


class ErasureRecord(UUIDPrimaryKey, Base):
    """One erasure. Platform-level like `users` (an erasure spans every studio) and
    append-only (the application may not UPDATE or DELETE it). It never holds the erased
    data: only the account's id (now anonymous), who asked, why, and counts per kind."""

    __tablename__ = "erasure_records"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    # "self", or "operator:<the operator's user id>".
    requested_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    completed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
