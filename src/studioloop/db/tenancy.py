"""Row-level security context for the current transaction.

Policies compare `tenant_id` with `current_setting('app.tenant_id')`. The value is set with
`is_local = true`, so it ends with the transaction and can never leak to the next request
that reuses the pooled connection.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

TENANT_SETTING = "app.tenant_id"
USER_SETTING = "app.user_id"
INVITATION_SETTING = "app.invitation_token_hash"


async def set_tenant_context(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": TENANT_SETTING, "value": str(tenant_id)},
    )


async def clear_tenant_context(session: AsyncSession) -> None:
    """Leave any studio's context (for platform rows, within one transaction)."""
    await session.execute(text("SELECT set_config('app.tenant_id', '', true)"))


async def set_user_context(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": USER_SETTING, "value": str(user_id)},
    )


async def set_platform_view(session: AsyncSession) -> None:
    """Let this transaction read every studio's messages: only for the platform operator's
    own tools (the development outbox), never for a studio's request."""
    await session.execute(text("SELECT set_config('app.platform_view', 'on', true)"))


async def set_invitation_lookup(session: AsyncSession, token_hash: str | None) -> None:
    """Make the one membership row holding this invitation token hash visible (or, with
    None, nothing through this path). The lookup happens before the tenant is known; the
    policy never lets this setting authorise a write."""
    await session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": INVITATION_SETTING, "value": token_hash or ""},
    )


async def allow_occurrence_lookup(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    """Make one class occurrence readable by id outside its studio (see its RLS policy).
    Plain SQL (db/raw.py): every `POST /bookings` without a studio in the path asks this."""
    await raw.execute(
        session, "SELECT set_config('app.occurrence_id', %s, true)", (str(occurrence_id),)
    )
