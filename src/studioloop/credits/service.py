"""Credits: accounts, lots with expiry, and the append-only ledger.

What each change means (which lots a refund goes back to, how much a refunded payment
takes back, when credits lapse) is decided here; every change is written by the ledger's
one writer (ledger.py), which keeps the balance equal to the ledger's sum and to the lots.
Lapsed lots are expired on the spot before any debit (and by a periodic job), so a member
never spends credits that have run out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits import exceptions as exc, ledger
from studioloop.credits.kinds import Kind
from studioloop.credits.ledger import Debit as Debit  # callers' name for what a debit took
from studioloop.credits.models import CreditAccount, CreditLot, CreditPackage, CreditTransaction


def _now() -> datetime:
    return datetime.now(UTC)


async def grant(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    *,
    source: str,
    transaction_type: str,
    expires_at: datetime | None = None,
    package_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> CreditLot:
    """Add a lot of `amount` credits (a purchase, a grant, a positive adjustment)."""
    account = await ledger.lock_account(session, tenant_id, user_id, create=True)
    assert account is not None
    return await ledger.open_lot(
        session,
        account,
        transaction_type,
        amount,
        source=source,
        expires_at=expires_at,
        package_id=package_id,
        reason=reason,
        actor_user_id=actor_user_id,
    )


async def debit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    *,
    transaction_type: str = "usage",
    booking_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> list[Debit]:
    """Take `amount` credits, soonest-expiring lot first, or raise INSUFFICIENT_CREDITS.

    Lots that have lapsed but were not yet expired by the job are expired here first
    (their own ledger rows), so nobody spends credits that have run out."""
    return await ledger.debit(
        session,
        tenant_id,
        user_id,
        amount,
        kind=transaction_type,
        booking_id=booking_id,
        reason=reason,
        actor_user_id=actor_user_id,
    )


async def refund_booking(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    reason: str,
) -> int:
    """Put back what a booking took, into the lots it came from (once)."""
    # Usage rows are negative and earlier refunds positive: what is still owed per lot is
    # minus their sum, so refunding twice gives nothing back the second time.
    rows = await session.execute(
        select(CreditTransaction.lot_id, func.sum(CreditTransaction.amount))
        .where(CreditTransaction.booking_id == booking_id, CreditTransaction.lot_id.is_not(None))
        .group_by(CreditTransaction.lot_id)
    )
    owed: dict[uuid.UUID, int] = {
        lot_id: -int(total) for lot_id, total in rows if lot_id is not None and total < 0
    }
    if not owed:
        return 0
    account = await ledger.lock_account(session, tenant_id, user_id, create=False)
    assert account is not None
    lots = {
        lot.id: lot
        for lot in await session.scalars(
            select(CreditLot)
            .where(CreditLot.id.in_(owed))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for lot_id, amount in owed.items():
        ledger.write(
            session,
            account,
            lots[lot_id],
            Kind.REFUND,
            amount,
            booking_id=booking_id,
            reason=reason,
        )
    # A refund into a lot that has lapsed meanwhile expires again at once, visibly.
    await ledger.expire_lapsed(session, account, _now())
    await session.flush()
    return sum(owed.values())


async def revoke_from_lot(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    lot_id: uuid.UUID,
    amount: int,
    *,
    reason: str,
    actor_user_id: uuid.UUID | None = None,
) -> int:
    """Take back up to `amount` credits from one lot (credits bought with money that was
    refunded). What the member already spent stays spent: the balance never goes below
    zero. Returns how many were taken (an `adjustment` row in the ledger)."""
    account = await ledger.lock_account(session, tenant_id, user_id, create=False)
    lot = await session.scalar(
        select(CreditLot)
        .where(CreditLot.id == lot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None or lot is None:
        return 0
    taken = min(amount, lot.remaining)
    if taken > 0:
        ledger.write(
            session,
            account,
            lot,
            Kind.ADJUSTMENT,
            -taken,
            reason=reason,
            actor_user_id=actor_user_id,
        )
        await session.flush()
    return taken


async def lot_size(session: AsyncSession, lot_id: uuid.UUID) -> int:
    """How many credits a lot held when it was granted."""
    original = await session.scalar(select(CreditLot.original).where(CreditLot.id == lot_id))
    return int(original or 0)


async def adjust(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    *,
    reason: str,
    actor_user_id: uuid.UUID,
    valid_days: int | None = None,
) -> int:
    """Staff correction: positive adds a lot, negative takes credits. Returns the balance."""
    if amount > 0:
        expires = _now() + timedelta(days=valid_days) if valid_days else None
        await grant(
            session,
            tenant_id,
            user_id,
            amount,
            source="adjustment",
            transaction_type="adjustment",
            expires_at=expires,
            reason=reason,
            actor_user_id=actor_user_id,
        )
    else:
        await debit(
            session,
            tenant_id,
            user_id,
            -amount,
            transaction_type="adjustment",
            reason=reason,
            actor_user_id=actor_user_id,
        )
    return await balance_of(session, tenant_id, user_id)


async def balance_of(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    balance = await session.scalar(
        select(CreditAccount.balance).where(
            CreditAccount.tenant_id == tenant_id, CreditAccount.user_id == user_id
        )
    )
    return int(balance or 0)


# A balance at or under this is "running low" (the owner's People filter).
LOW_BALANCE = 2


async def balance_above(session: AsyncSession, amount: int) -> set[uuid.UUID]:
    """The studio's people holding more than `amount` credits."""
    query = select(CreditAccount.user_id).where(CreditAccount.balance > amount)
    return set(await session.scalars(query))


async def balances(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Every balance at the studio in context, by member."""
    rows = await session.execute(select(CreditAccount.user_id, CreditAccount.balance))
    return {row[0]: row[1] for row in rows}


async def expire_due(session: AsyncSession, now: datetime | None = None) -> int:
    """Expire every lapsed lot of the tenant in context (periodic job)."""
    now = now or _now()
    account_ids = list(
        await session.scalars(
            select(CreditLot.account_id)
            .where(CreditLot.remaining > 0, CreditLot.expires_at <= now)
            .distinct()
        )
    )
    expired = 0
    for account_id in account_ids:
        account = await session.scalar(
            select(CreditAccount)
            .where(CreditAccount.id == account_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if account is not None:
            expired += await ledger.expire_lapsed(session, account, now)
    await session.flush()
    return expired


async def statement(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, limit: int = 50
) -> tuple[CreditAccount | None, list[CreditLot], list[CreditTransaction]]:
    account = await session.scalar(
        select(CreditAccount).where(
            CreditAccount.tenant_id == tenant_id, CreditAccount.user_id == user_id
        )
    )
    if account is None:
        return None, [], []
    lots = list(
        await session.scalars(
            select(CreditLot)
            .where(CreditLot.account_id == account.id, CreditLot.remaining > 0)
            .order_by(CreditLot.expires_at.asc().nulls_last(), CreditLot.created_at)
        )
    )
    history = list(
        await session.scalars(
            select(CreditTransaction)
            .where(CreditTransaction.account_id == account.id)
            .order_by(CreditTransaction.created_at.desc(), CreditTransaction.id.desc())
            .limit(limit)
        )
    )
    return account, lots, history


# --- packages ----------------------------------------------------------------------------


async def list_packages(
    session: AsyncSession, *, include_inactive: bool = False, covering: int | None = None
) -> list[CreditPackage]:
    query = select(CreditPackage).order_by(CreditPackage.sort_order, CreditPackage.credits)
    if not include_inactive:
        query = query.where(CreditPackage.is_active.is_(True))
    if covering is not None:
        query = query.where(CreditPackage.credits >= covering)
    return list(await session.scalars(query))


async def save_package(session: AsyncSession, package: CreditPackage) -> CreditPackage:
    try:
        async with session.begin_nested():
            session.add(package)
            await session.flush()
    except IntegrityError as error:
        raise exc.PackageNameTaken(details={"field": "name"}) from error
    await session.refresh(package)
    return package


async def get_package(session: AsyncSession, package_id: uuid.UUID) -> CreditPackage:
    package = await session.get(CreditPackage, package_id)
    if package is None:
        raise exc.PackageNotFound()
    return package


async def move_package(
    session: AsyncSession, package_id: uuid.UUID, step: int
) -> list[CreditPackage]:
    """Move a pack one place up (`step` -1) or down (+1) in the studio's list (the order
    members see them in); the list is numbered again from 0."""
    package = await get_package(session, package_id)
    packs = await list_packages(session, include_inactive=True)
    at = packs.index(package)
    to = min(max(at + step, 0), len(packs) - 1)
    packs.insert(to, packs.pop(at))
    for position, each in enumerate(packs):
        each.sort_order = position
    await session.flush()
    return packs
