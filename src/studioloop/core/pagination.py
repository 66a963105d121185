"""Cursor pagination: opaque cursors that encode the last row's sort key."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

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
