"""The API keys' plain SQL: the two statements every request with a key runs, before the
endpoint's own. The lookup calls the SECURITY DEFINER function of migration
0037_api_keys, the one way to find a key before its studio is in context."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw


async def keys_with_prefix(session: AsyncSession, prefix: str) -> list[Any]:
    """Every key (of any studio, revoked ones too) whose public prefix is `prefix`: in
    practice one or none. Columns: id, tenant_id, secret_hash, scopes, revoked_at,
    last_used_at, tenant_status."""
    return await raw.fetch_all(session, "SELECT * FROM api_key_by_prefix(%s)", (prefix,))


async def touch(session: AsyncSession, key_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    """Set the key's last use to now, unless it was set in the last minute (another
    request of the same minute may have done it since the key was read). Needs the key's
    studio in context.

    A request that finds the row being written by another one skips it (that one is
    recording the same minute): waiting would hold it until the other's transaction ends,
    and a key's concurrent requests would queue behind each other once a minute."""
    await raw.execute(
        session,
        "UPDATE api_keys SET last_used_at = now() WHERE id = ("
        "SELECT id FROM api_keys WHERE id = %(id)s AND tenant_id = %(tenant_id)s "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') "
        "FOR UPDATE SKIP LOCKED) AND tenant_id = %(tenant_id)s",
        {"id": key_id, "tenant_id": tenant_id},
    )
