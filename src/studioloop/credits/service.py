"""Credits: accounts, lots with expiry, and the append-only ledger.

Every change locks the member's account row first, then writes the lots, the ledger rows
and the balance in the same transaction, so the balance always equals the ledger's sum.
Lapsed lots are expired on the spot before any debit (and by a periodic job), so a member
never spends credits that have run out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits import exceptions as exc
from studioloop.credits.models import CreditAccount, CreditLot, CreditPackage, CreditTransaction


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Debit:
    lot_id: uuid.UUID
    amount: int


async def _locked_account(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, create: bool
) -> CreditAccount | None:
    if create:
        await session.execute(
            insert(CreditAccount)
            .values(tenant_id=tenant_id, user_id=user_id)
            .on_conflict_do_nothing(index_elements=["tenant_id", "user_id"])
        )
    return await session.scalar(
        select(CreditAccount)
        .where(CreditAccount.tenant_id == tenant_id, CreditAccount.user_id == user_id)
        .with_for_update()
    )


def _ledger(account: CreditAccount, type_: str, amount: int, **extra: object) -> CreditTransaction:
    account.balance += amount
    return CreditTransaction(
        tenant_id=account.tenant_id,
        account_id=account.id,
        user_id=account.user_id,
        type=type_,
        amount=amount,
        balance_after=account.balance,
        **extra,
    )


async def _expire_lapsed(session: AsyncSession, account: CreditAccount, now: datetime) -> int:
    lapsed = list(
        await session.scalars(
            select(CreditLot)
            .where(
                CreditLot.account_id == account.id,
                CreditLot.remaining > 0,
                CreditLot.expires_at <= now,
            )
            .order_by(CreditLot.expires_at)
            .with_for_update()
        )
    )
    expired = 0
    for lot in lapsed:
        session.add(
            _ledger(account, "expiry", -lot.remaining, lot_id=lot.id, reason="Credits expired")
        )
        expired += lot.remaining
        lot.remaining = 0
    return expired


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
    account = await _locked_account(session, tenant_id, user_id, create=True)
    assert account is not None
    lot = CreditLot(
        tenant_id=tenant_id,
        account_id=account.id,
        source=source,
        original=amount,
        remaining=amount,
        expires_at=expires_at,
        package_id=package_id,
    )
    session.add(lot)
    await session.flush()
    session.add(
        _ledger(
            account,
            transaction_type,
            amount,
            lot_id=lot.id,
            reason=reason,
            actor_user_id=actor_user_id,
        )
    )
    if transaction_type == "purchase":
        account.total_purchased += amount
    await session.flush()
    return lot


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
    """Take `amount` credits, soonest-expiring lot first, or raise INSUFFICIENT_CREDITS."""
    now = _now()
    account = await _locked_account(session, tenant_id, user_id, create=False)
    if account is not None:
        await _expire_lapsed(session, account, now)
    if account is None or account.balance < amount:
        raise exc.InsufficientCredits(
            details={"required": amount, "balance": account.balance if account else 0}
        )
    lots = await session.scalars(
        select(CreditLot)
        .where(
            CreditLot.account_id == account.id,
            CreditLot.remaining > 0,
            or_(CreditLot.expires_at.is_(None), CreditLot.expires_at > now),
        )
        .order_by(CreditLot.expires_at.asc().nulls_last(), CreditLot.created_at)
        .with_for_update()
    )
    taken: list[Debit] = []
    still_needed = amount
    for lot in lots:
        part = min(lot.remaining, still_needed)
        lot.remaining -= part
        session.add(
            _ledger(
                account,
                transaction_type,
                -part,
                lot_id=lot.id,
                booking_id=booking_id,
                reason=reason,
                actor_user_id=actor_user_id,
            )
        )
        taken.append(Debit(lot.id, part))
        still_needed -= part
        if still_needed == 0:
            break
    # The balance equals the unexpired lots' remainders, so the loop always finishes.
    assert still_needed == 0, "credit lots and balance disagree"
    await session.flush()
    return taken


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
    account = await _locked_account(session, tenant_id, user_id, create=False)
    assert account is not None
    lots = {
        lot.id: lot
        for lot in await session.scalars(
            select(CreditLot).where(CreditLot.id.in_(owed)).with_for_update()
        )
    }
    for lot_id, amount in owed.items():
        lots[lot_id].remaining += amount
        session.add(
            _ledger(account, "refund", amount, lot_id=lot_id, booking_id=booking_id, reason=reason)
        )
    # A refund into a lot that has lapsed meanwhile expires again at once, visibly.
    await _expire_lapsed(session, account, _now())
    await session.flush()
    return sum(owed.values())


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
            select(CreditAccount).where(CreditAccount.id == account_id).with_for_update()
        )
        if account is not None:
            expired += await _expire_lapsed(session, account, now)
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
