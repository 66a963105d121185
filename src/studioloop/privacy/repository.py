"""The privacy domain's plain SQL (db/raw.py): the two SECURITY DEFINER functions of
migration 0034, which cross studios and touch append-only tables no request may."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

_TENANTS = "SELECT erasure_tenants(%s, %s)"
_HISTORY = "SELECT * FROM erase_user_history(%s, %s, %s, %s)"


async def tenants_holding(session: AsyncSession, user_id: uuid.UUID, email: str) -> list[uuid.UUID]:
    """Every studio with a row about this person (theirs, or addressed to their email)."""
    rows = await raw.fetch_all(session, _TENANTS, (user_id, email))
    return [row[0] for row in rows]


async def erase_history(
    session: AsyncSession, user_id: uuid.UUID, email: str, name: str, body: str
) -> Any:
    """(chat_messages, chat_guests, membership_history) rows blanked, in every studio."""
    return await raw.fetch_one(session, _HISTORY, (user_id, email, name, body))
