"""Row-level security context for the current transaction.

Policies compare `tenant_id` with `current_setting('app.tenant_id')`. The value is set with
`is_local = true`, so it ends with the transaction and can never leak to the next request
that reuses the pooled connection. Within one transaction it can leak, though: a studio
put in context stays there for every later statement. So there are two ways in, and code
outside this package uses only these (a ruff rule and tests/db/test_tenancy_rules.py keep
`set_config` and the bare setters here):

- `enter_tenant_for_transaction`: where a transaction learns whose it is (a request's
  studio, a job's), with nothing before it to go back to. One statement.
- `async with scope(session, tenant_id)`: anything that switches inside a transaction (a
  loop over studios, a detour to the platform's own tenant, a cross-studio read). The
  previous studio is back when the block ends, however it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw

TENANT_SETTING = "app.tenant_id"
USER_SETTING = "app.user_id"
INVITATION_SETTING = "app.invitation_token_hash"

_SET_TENANT: LiteralString = "SELECT set_config('app.tenant_id', %s, true)"
# The old value and the new one in one round trip. The MATERIALIZED CTE is read before
# the outer select list is evaluated, so the value read is the one from before the switch.
_SWAP_TENANT: LiteralString = (
    "WITH previous AS MATERIALIZED "
    "(SELECT coalesce(current_setting('app.tenant_id', true), '') AS tenant) "
    "SELECT previous.tenant, set_config('app.tenant_id', %s, true) FROM previous"
)


def _setting(tenant_id: uuid.UUID | None) -> str:
    return "" if tenant_id is None else str(tenant_id)


async def enter_tenant_for_transaction(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """This transaction belongs to `tenant_id` from here on: for the point where a request
    or job learns its studio. To visit a studio and come back, use `scope`."""
    await set_tenant_context(session, tenant_id)


async def enter_user_for_transaction(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The person the transaction acts for (their own rows at every studio become
    visible). Nothing switches the user within a transaction, so there is no scope."""
    await set_user_context(session, user_id)


async def enter_user_reading_row(session: AsyncSession, user_id: uuid.UUID) -> Any:
    """`enter_user_for_transaction`, and the user's `users` row (None without one; its
    extra column `context_set` is no user attribute) in the same round trip: every
    authenticated request starts so (accounts/service.py), hence plain SQL."""
    return await raw.fetch_one(
        session,
        "SELECT u.*, set_config('app.user_id', %s, true) AS context_set FROM users u "
        "WHERE u.id = %s",
        (str(user_id), user_id),
    )


@asynccontextmanager
async def scope(session: AsyncSession, tenant_id: uuid.UUID | None) -> AsyncIterator[None]:
    """Put `tenant_id` (None: no studio, for platform rows) in context for the block, and
    the previous value back after it, also when it raises.

    Pending ORM changes are flushed on the way in and on the way out, so each is written
    in the context it was made in. A scope lives inside one transaction: if the block ends
    its transaction, the setting ended with it and there is nothing to restore. Inside a
    block, switch again only with a nested scope: an `enter_*` there would be undone at
    the block's end (or kept, when the block is in the studio it found in context)."""
    wanted = _setting(tenant_id)
    # Flushes the changes made before the block (raw.driver_connection), then switches.
    row = await raw.fetch_one(session, _SWAP_TENANT, (wanted,))
    previous: str = row.tenant
    transaction = session.sync_session.get_transaction()
    try:
        yield
    finally:
        # Entering the studio already in context switched nothing, so nothing goes back
        # (saves the round trip where a loop visits the request's own studio). Nested
        # scopes restore in order, so this still holds when the block used scopes itself.
        if previous != wanted and await _can_restore(session, transaction):
            await raw.execute(session, _SET_TENANT, (previous,))


async def _can_restore(session: AsyncSession, entered_in: object) -> bool:
    """Whether the transaction the scope began in is still there and can run statements.
    A failed one will be rolled back, to a point before the scope's switch (savepoints
    undo settings too), so restoring it is unnecessary; trying would only replace the
    block's exception with "current transaction is aborted"."""
    transaction = session.sync_session.get_transaction()
    if transaction is None or transaction is not entered_in or not transaction.is_active:
        return False
    connection = await session.connection()  # unlike raw.driver_connection, no flush
    driver = (await connection.get_raw_connection()).driver_connection
    return bool(driver is not None and driver.info.transaction_status == TransactionStatus.INTRANS)


# --- the bare setters: only for this package (see the module's docstring) ---------------


async def set_tenant_context(session: AsyncSession, tenant_id: uuid.UUID | None) -> None:
    """Switch without a way back: what `scope` and `enter_tenant_for_transaction` are
    made of. Elsewhere, use those (a switch outside a scope was how a transaction ended
    up in the wrong studio)."""
    await raw.execute(session, _SET_TENANT, (_setting(tenant_id),))


async def set_user_context(session: AsyncSession, user_id: uuid.UUID) -> None:
    await raw.execute(session, "SELECT set_config('app.user_id', %s, true)", (str(user_id),))


# --- narrower settings, each with its own policy -----------------------------------------


async def set_platform_view(session: AsyncSession) -> None:
    """Let this transaction read every studio's messages: only for the platform operator's
    own tools (the development outbox), never for a studio's request."""
    await session.execute(text("SELECT set_config('app.platform_view', 'on', true)"))


@asynccontextmanager
async def invitation_lookup(session: AsyncSession, token_hash: str) -> AsyncIterator[None]:
    """Make the one membership row holding this invitation token hash visible for the
    block, and nothing through this path after it (also when it raises). The lookup
    happens before the tenant is known; the policy never lets this setting authorise a
    write."""
    await session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": INVITATION_SETTING, "value": token_hash},
    )
    transaction = session.sync_session.get_transaction()
    try:
        yield
    finally:
        if await _can_restore(session, transaction):
            await session.execute(
                text("SELECT set_config(:name, '', true)"), {"name": INVITATION_SETTING}
            )


async def allow_occurrence_lookup(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    """Make one class occurrence readable by id outside its studio (see its RLS policy).
    Plain SQL (db/raw.py): every `POST /bookings` without a studio in the path asks this."""
    await raw.execute(
        session, "SELECT set_config('app.occurrence_id', %s, true)", (str(occurrence_id),)
    )
