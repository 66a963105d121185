"""The credit ledger's one writer: every `credit_transactions` row is written here.

A ledger entry never travels alone: the same transaction moves its lot's `remaining` and
its account's `balance` by the same amount. That is what keeps the three sums equal
(balance = ledger = lots' remainders), so everything that could break it is in this one
module rather than in each place that gives or takes credits:

- the kinds and the sign each must have (kinds.py, shared with the table's CHECK);
- a balance never below zero, a lot never below zero nor above what it was granted;
- every entry names its lot (a refund finds what a booking took, an expiry what lapsed)
  and, when it has one, its booking and the person who made it;
- lapsed lots are expired before any debit, so nobody spends credits that have run out.

A broken rule here is a bug in the caller, never a member's mistake (those are answered
earlier, as `InsufficientCredits`), so it raises `EntryRefused` before anything is written;
the table's constraints are the second line.

There are two ways in, with one set of checks (`checked`, `_balance_after`). `write`,
`open_lot` and `expire_lapsed` work on ORM objects, for the paths that hold them (grants,
refunds, revocations, the expiry job). `debit` is plain SQL (repository.py), because it is the
booking path's hot spot: it locks the lots in one statement and writes every entry, lot
and the balance in one more, which a booking's pipeline sends with its seat. Its SQL only
applies amounts already signed and checked in Python, so no rule is written twice.

Callers lock the account first (`lock_account`, or `debit`'s own lock): writers of one
account queue on that row, so each computes `balance_after` from the balance it locked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits import exceptions as exc, repository
from studioloop.credits.kinds import DIRECTION, IN, OUT, Kind
from studioloop.credits.models import LOT_SOURCES, CreditAccount, CreditLot, CreditTransaction

__all__ = [
    "EXPIRED",
    "Debit",
    "EntryRefused",
    "Kind",
    "checked",
    "debit",
    "expire_lapsed",
    "lock_account",
    "open_lot",
    "write",
]

EXPIRED = "Credits expired"


class EntryRefused(ValueError):
    """An entry that would break the ledger's rules (a wrong sign, zero credits, a
    negative balance, an unknown kind): nothing was written."""


@dataclass(frozen=True)
class Debit:
    lot_id: uuid.UUID
    amount: int  # taken from that lot, positive


def checked(kind: Kind | str, amount: int) -> Kind:
    """`kind` as a `Kind`, if an entry of that kind may move `amount` (signed) credits."""
    if not isinstance(kind, Kind):  # the lookup costs a microsecond on the booking path
        try:
            kind = Kind(kind)
        except ValueError:
            known = ", ".join(Kind)
            raise EntryRefused(f"{kind!r} is not a kind of ledger entry ({known})") from None
    if amount == 0:
        raise EntryRefused(f"a {kind} entry of 0 credits: every entry moves credits")
    direction = DIRECTION[kind]
    if direction == IN and amount < 0:
        raise EntryRefused(f"a {kind} entry adds credits: {amount} must be positive")
    if direction == OUT and amount > 0:
        raise EntryRefused(f"a {kind} entry takes credits: {amount} must be negative")
    return kind


def _balance_after(balance: int, kind: Kind, amount: int) -> int:
    after = balance + amount
    if after < 0:
        raise EntryRefused(
            f"a {kind} entry of {amount} would leave a balance of {after}: "
            "a balance is never negative"
        )
    return after


async def lock_account(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, create: bool
) -> CreditAccount | None:
    """The member's account at this tenant, locked for writing (made first if `create`)."""
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
        # `debit` changes these rows behind the identity map: always reload.
        .execution_options(populate_existing=True)
    )


def _record(
    session: AsyncSession,
    account: CreditAccount,
    lot_id: uuid.UUID,
    kind: Kind,
    amount: int,
    *,
    booking_id: uuid.UUID | None,
    reason: str | None,
    actor_user_id: uuid.UUID | None,
) -> CreditTransaction:
    account.balance = _balance_after(account.balance, kind, amount)
    if kind is Kind.PURCHASE:
        account.total_purchased += amount
    entry = CreditTransaction(
        tenant_id=account.tenant_id,
        account_id=account.id,
        user_id=account.user_id,
        type=kind.value,
        amount=amount,
        balance_after=account.balance,
        lot_id=lot_id,
        booking_id=booking_id,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    session.add(entry)
    return entry


def write(
    session: AsyncSession,
    account: CreditAccount,
    lot: CreditLot,
    kind: Kind | str,
    amount: int,
    *,
    booking_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> CreditTransaction:
    """One entry of `amount` (signed) credits into or out of an existing lot of a locked
    `account`; the lot, the balance and the entry are flushed together."""
    kind = checked(kind, amount)
    if lot.account_id != account.id:
        raise EntryRefused(f"lot {lot.id} belongs to another account than {account.id}")
    remaining = lot.remaining + amount
    if not 0 <= remaining <= lot.original:
        raise EntryRefused(
            f"a {kind} entry of {amount} would leave lot {lot.id} with {remaining} of "
            f"its {lot.original} credits"
        )
    entry = _record(
        session,
        account,
        lot.id,
        kind,
        amount,
        booking_id=booking_id,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    lot.remaining = remaining
    return entry


async def open_lot(
    session: AsyncSession,
    account: CreditAccount,
    kind: Kind | str,
    amount: int,
    *,
    source: str,
    expires_at: datetime | None = None,
    package_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> CreditLot:
    """A new lot of `amount` credits for a locked `account`, and the entry that brings it:
    how every credit arrives (a purchase, a membership's grant, a staff adjustment, a
    transfer in)."""
    kind = checked(kind, amount)
    if amount < 0:
        raise EntryRefused(f"a new lot holds credits: {amount} must be positive")
    if source not in LOT_SOURCES:
        raise EntryRefused(f"{source!r} is not a lot source ({', '.join(LOT_SOURCES)})")
    # Born full rather than filled by `write`: one INSERT instead of an INSERT and an UPDATE.
    lot = CreditLot(
        tenant_id=account.tenant_id,
        account_id=account.id,
        source=source,
        original=amount,
        remaining=amount,
        expires_at=expires_at,
        package_id=package_id,
    )
    session.add(lot)
    await session.flush()  # the entry names the lot's id, which the database assigns
    _record(
        session,
        account,
        lot.id,
        kind,
        amount,
        booking_id=None,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    await session.flush()
    return lot


async def expire_lapsed(session: AsyncSession, account: CreditAccount, now: datetime) -> int:
    """Expire every lot of a locked `account` that lapsed by `now`; returns the credits."""
    lapsed = await session.scalars(
        select(CreditLot)
        .where(
            CreditLot.account_id == account.id,
            CreditLot.remaining > 0,
            CreditLot.expires_at <= now,
        )
        .order_by(CreditLot.expires_at)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    expired = 0
    for lot in list(lapsed):
        expired += lot.remaining
        write(session, account, lot, Kind.EXPIRY, -lot.remaining, reason=EXPIRED)
    return expired


# --- the debit, in plain SQL (repository.py) ---------------------------------------------


async def debit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    *,
    kind: Kind | str = Kind.USAGE,
    booking_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor_user_id: uuid.UUID | None = None,
) -> list[Debit]:
    """Take `amount` (positive) credits, soonest-expiring lot first, or raise
    INSUFFICIENT_CREDITS; lapsed lots are expired first, as entries of their own. Locks
    and reads the lots (one round trip), then sends the write without waiting for it (in
    a pipeline it goes with the block's next statements)."""
    kind = checked(kind, -amount)
    now = datetime.now(UTC)
    rows = await repository.lock_lots(session, tenant_id, user_id)
    # The balance equals the lots' remainders, so no lot with credits means a zero balance.
    balance = rows[0].balance if rows else 0
    lapsed = [r for r in rows if r.expires_at is not None and r.expires_at <= now]
    usable = [r for r in rows if r.expires_at is None or r.expires_at > now]
    spendable = balance - sum(r.remaining for r in lapsed)
    if spendable < amount:
        raise exc.InsufficientCredits(details={"required": amount, "balance": spendable})
    planned: list[tuple[Kind, int, uuid.UUID, uuid.UUID | None, str | None]] = [
        (Kind.EXPIRY, -r.remaining, r.id, None, EXPIRED) for r in lapsed
    ]
    taken: list[Debit] = []
    still_needed = amount
    for lot in usable:
        part = min(lot.remaining, still_needed)
        planned.append((kind, -part, lot.id, booking_id, reason))
        taken.append(Debit(lot.id, part))
        still_needed -= part
        if still_needed == 0:
            break
    # The balance equals the unexpired lots' remainders, so the loop always finishes.
    assert still_needed == 0, "credit lots and balance disagree"
    entries = []
    for entry_kind, signed, lot_id, for_booking, why in planned:
        balance = _balance_after(balance, checked(entry_kind, signed), signed)
        entries.append(
            {
                "type": entry_kind.value,
                "amount": signed,
                "balance_after": balance,
                "lot_id": str(lot_id),
                "booking_id": str(for_booking) if for_booking else None,
                "reason": why,
            }
        )
    account_id = rows[0].account_id
    await repository.send_debit_write(
        session,
        entries,
        [lot_id for _, _, lot_id, _, _ in planned],
        balance=balance,
        account_id=account_id,
        tenant_id=tenant_id,
        user_id=user_id,
        actor_user_id=actor_user_id,
    )
    return taken
