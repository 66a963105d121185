"""Cursor pagination: opaque cursors that encode the last row's sort key."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from studioloop.core.errors import field_error

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_error("cursor", "The cursor is not valid.", location="query") from exc
    if not isinstance(values, list) or len(values) != size:
        raise field_error("cursor", "The cursor is not valid.", location="query")
    return values


def cursor_uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise field_error("cursor", "The cursor is not valid.", location="query") from exc


def cursor_datetime(value: object) -> datetime:
    """A cursor's time: an ISO time with its UTC offset, as `encode_cursor` wrote it."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise field_error("cursor", "The cursor is not valid.", location="query") from exc
    if moment.tzinfo is None:
        raise field_error("cursor", "The cursor is not valid.", location="query")
    return moment


async def newest_first(
    session: AsyncSession,
    query: Select[Any],
    created: InstrumentedAttribute[datetime],
    ident: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of `query`'s rows newest first (by `created`, then `ident`), and the cursor
    of the next page: keyset pagination, so a page costs the same however deep it is."""
    if cursor:
        raw_created, raw_id = decode_cursor(cursor, 2)
        after = cursor_datetime(raw_created)
        last_id = cursor_uuid(raw_id)
        query = query.where(or_(created < after, and_(created == after, ident < last_id)))
    rows = list(
        await session.scalars(query.order_by(created.desc(), ident.desc()).limit(limit + 1))
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(
            [getattr(last, created.key).isoformat(), getattr(last, ident.key)]
        )
    return rows[:limit], next_cursor
