"""Idempotency keys: a retried unsafe request returns the first result and acts once.

The key is claimed with an INSERT in the request's own transaction. A concurrent retry with
the same key waits on the unique index until the first commits, then reads its stored
response; if the first failed, its claim rolled back with it and the retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from studioloop.core.errors import AppError
from studioloop.db.base import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was already used for a different request."


def request_fingerprint(endpoint: str, body: Any) -> str:
    raw = json.dumps([endpoint, body], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


async def claim(
    session: AsyncSession, user_id: uuid.UUID, key: str, endpoint: str, fingerprint: str
) -> tuple[int, Any] | None:
    """Claim `key`; return the stored (status, body) when it was already used."""
    claimed = await session.scalar(
        insert(IdempotencyRecord)
        .values(user_id=user_id, key=key, endpoint=endpoint, request_hash=fingerprint)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if claimed is not None:
        return None
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
        )
    )
    assert record is not None
    if record.request_hash != fingerprint or record.status_code is None:
        raise IdempotencyKeyReused()
    return record.status_code, record.response


async def remember(
    session: AsyncSession, user_id: uuid.UUID, key: str, status_code: int, response: Any
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=response)
    )
