"""The universal (marketplace) account: one per member, usable at any studio through the
marketplace. It lives under the platform's own tenant, so it has the same lots, expiry,
append-only ledger and row-level security as a studio account; only the way in differs.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import service as accounts_service
from studioloop.credits import exceptions as exc
from studioloop.credits.models import CreditAccount, CreditLot, CreditTransaction
from studioloop.credits.service import Debit, adjust, debit, refund_booking, statement
from studioloop.db import tenancy
from studioloop.tenants import service as tenants_service
from studioloop.tenants.models import PLATFORM_TENANT_ID


async def universal_statement(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int = 50
) -> tuple[CreditAccount | None, list[CreditLot], list[CreditTransaction]]:
    # Reading needs no platform tenant row (without one there is no account either), so
    # this does not write one on every page view as adjusting does.
    async with tenancy.scope(session, PLATFORM_TENANT_ID):
        return await statement(session, PLATFORM_TENANT_ID, user_id, limit=limit)


async def adjust_universal(
    session: AsyncSession,
    user_id: uuid.UUID,
    amount: int,
    *,
    reason: str,
    actor_user_id: uuid.UUID,
    valid_days: int | None = None,
) -> int:
    """A platform operator's correction of a member's universal credits."""
    if not await accounts_service.user_exists(session, user_id):
        raise exc.CreditAccountHolderNotFound()
    tenant_id = await tenants_service.enter_platform_tenant(session)
    return await adjust(
        session,
        tenant_id,
        user_id,
        amount,
        reason=reason,
        actor_user_id=actor_user_id,
        valid_days=valid_days,
    )


async def debit_universal(
    session: AsyncSession,
    user_id: uuid.UUID,
    amount: int,
    *,
    booking_id: uuid.UUID,
    reason: str,
    studio_id: uuid.UUID,
) -> list[Debit]:
    """Pay for a marketplace booking at `studio_id` from the member's universal credits,
    then return to that studio's context (where the booking is written): the caller's,
    which `scope` restores, also when this raises (the caller may go on: a 402 answer)."""
    # No account yet means no credits: the platform tenant need not exist for this.
    async with tenancy.scope(session, PLATFORM_TENANT_ID):
        return await debit(
            session, PLATFORM_TENANT_ID, user_id, amount, booking_id=booking_id, reason=reason
        )


async def refund_universal_booking(
    session: AsyncSession,
    user_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    reason: str,
    studio_id: uuid.UUID,
) -> int:
    """Give back the universal credits a marketplace booking took (once), then return to
    the studio's context (the caller's)."""
    async with tenancy.scope(session, PLATFORM_TENANT_ID):
        return await refund_booking(session, PLATFORM_TENANT_ID, user_id, booking_id, reason=reason)
