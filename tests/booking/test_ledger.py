"""The ledger's one writer (credits/ledger.py), against the real database: every kind of
entry, the refusals that keep the ledger summing to the balance, and one list of kinds
shared by the writer, the table and the API."""

from __future__ import annotations

import typing
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits import exceptions as exc, ledger, schemas, service
from studioloop.credits.kinds import DIRECTION, EITHER, IN, Kind
from studioloop.credits.models import CreditAccount, CreditLot
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.booking.conftest import BookingStudio
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner


@asynccontextmanager
async def _in_studio(database, studio: BookingStudio) -> AsyncIterator[AsyncSession]:
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        yield session


async def _account(session: AsyncSession, studio: BookingStudio, member) -> CreditAccount:
    account = await ledger.lock_account(
        session, uuid.UUID(studio.tenant["id"]), uuid.UUID(member["user"]["id"]), create=True
    )
    assert account is not None
    return account


async def _lot(session: AsyncSession, lot_id: uuid.UUID) -> CreditLot:
    lot = await session.scalar(
        select(CreditLot).where(CreditLot.id == lot_id).execution_options(populate_existing=True)
    )
    assert lot is not None
    return lot


def _entries(owner_db: Owner) -> list[tuple[str, int, int]]:
    return [
        (kind, amount, after)
        for kind, amount, after in owner_db.rows(
            "SELECT type, amount, balance_after FROM credit_transactions ORDER BY created_at, id"
        )
    ]


async def test_every_kind_of_entry_is_written_with_its_sign(
    studio: BookingStudio, database, owner_db: Owner
) -> None:
    member = await studio.new_member()
    tenant_id, user_id = uuid.UUID(studio.tenant["id"]), uuid.UUID(member["user"]["id"])
    booking_id = uuid.uuid4()
    # One transaction a step: entries are ordered by their transaction's time.
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        bought = await ledger.open_lot(
            session, account, Kind.PURCHASE, 5, source="purchase", reason="Bought"
        )
        bought_id = bought.id
        await session.commit()
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        await ledger.open_lot(session, account, Kind.ADJUSTMENT, 2, source="adjustment")
        await session.commit()
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        await ledger.open_lot(session, account, "transfer", 1, source="transfer")
        await session.commit()
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        lapsing = await ledger.open_lot(
            session,
            account,
            Kind.PURCHASE,
            3,
            source="grant",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        lapsing_id = lapsing.id
        await session.commit()
    async with _in_studio(database, studio) as session:
        taken = await ledger.debit(session, tenant_id, user_id, 2, booking_id=booking_id)
        assert [(d.lot_id, d.amount) for d in taken] == [(lapsing_id, 2)]  # soonest to lapse
        await session.commit()
    async with _in_studio(database, studio) as session:
        refunded = await service.refund_booking(
            session, tenant_id, user_id, booking_id, reason="Cancelled"
        )
        assert refunded == 2
        await session.commit()
    async with _in_studio(database, studio) as session:
        await ledger.debit(session, tenant_id, user_id, 1, kind=Kind.TRANSFER, reason="Moved")
        await session.commit()
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        ledger.write(session, account, await _lot(session, bought_id), Kind.ADJUSTMENT, -1)
        await session.commit()
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        later = datetime.now(UTC) + timedelta(days=2)
        assert await ledger.expire_lapsed(session, account, later) == 2
        await session.commit()
    assert _entries(owner_db) == [
        ("purchase", 5, 5),
        ("adjustment", 2, 7),
        ("transfer", 1, 8),
        ("purchase", 3, 11),
        ("usage", -2, 9),
        ("refund", 2, 11),
        ("transfer", -1, 10),
        ("adjustment", -1, 9),
        ("expiry", -2, 7),
    ]
    assert {kind for kind, _, _ in _entries(owner_db)} == set(Kind)
    # Only purchases count as bought; every entry names its lot, a booking's its booking.
    assert owner_db.rows("SELECT balance, total_purchased FROM credit_accounts") == [(7, 8)]
    assert owner_db.value("SELECT count(*) FROM credit_transactions WHERE lot_id IS NULL") == 0
    assert owner_db.rows(
        "SELECT type, lot_id FROM credit_transactions WHERE booking_id = %s ORDER BY amount",
        booking_id,
    ) == [("usage", lapsing_id), ("refund", lapsing_id)]
    ledger_matches_balances(owner_db)


@pytest.mark.parametrize("kind", list(Kind))
def test_each_kind_refuses_zero_and_the_wrong_sign(kind: Kind) -> None:
    with pytest.raises(ledger.EntryRefused, match="every entry moves credits"):
        ledger.checked(kind, 0)
    if DIRECTION[kind] == EITHER:
        assert ledger.checked(kind, 1) is kind and ledger.checked(kind.value, -1) is kind
        return
    right = DIRECTION[kind]
    assert ledger.checked(kind, 2 * right) is kind
    expected = "must be positive" if right == IN else "must be negative"
    with pytest.raises(ledger.EntryRefused, match=f"a {kind} entry .*: -?2 {expected}"):
        ledger.checked(kind, -2 * right)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ledger.EntryRefused, match="'gift' is not a kind of ledger entry"):
        ledger.checked("gift", 3)


async def test_refused_entries_write_nothing(
    studio: BookingStudio, database, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=3)
    tenant_id, user_id = uuid.UUID(studio.tenant["id"]), uuid.UUID(member["user"]["id"])
    before = _entries(owner_db)
    async with _in_studio(database, studio) as session:
        account = await _account(session, studio, member)
        lot_id = await session.scalar(select(CreditLot.id))
        assert lot_id is not None
        lot = await _lot(session, lot_id)
        with pytest.raises(ledger.EntryRefused, match="a usage entry takes credits"):
            ledger.write(session, account, lot, Kind.USAGE, 2)
        with pytest.raises(ledger.EntryRefused, match="a refund entry adds credits"):
            ledger.write(session, account, lot, Kind.REFUND, -1)
        with pytest.raises(ledger.EntryRefused, match="0 credits"):
            ledger.write(session, account, lot, Kind.ADJUSTMENT, 0)
        # A lot gives no more than it holds, and takes back no more than it was granted.
        with pytest.raises(ledger.EntryRefused, match=r"leave lot .* with -1 of its 3"):
            ledger.write(session, account, lot, Kind.ADJUSTMENT, -4)
        with pytest.raises(ledger.EntryRefused, match=r"leave lot .* with 4 of its 3"):
            ledger.write(session, account, lot, Kind.REFUND, 1)
        with pytest.raises(ledger.EntryRefused, match="a new lot holds credits"):
            await ledger.open_lot(session, account, Kind.ADJUSTMENT, -2, source="adjustment")
        with pytest.raises(ledger.EntryRefused, match="'gift' is not a lot source"):
            await ledger.open_lot(session, account, Kind.PURCHASE, 2, source="gift")
        with pytest.raises(ledger.EntryRefused, match="a usage entry takes credits"):
            await ledger.debit(session, tenant_id, user_id, -1)
        with pytest.raises(ledger.EntryRefused, match="0 credits"):
            await ledger.debit(session, tenant_id, user_id, 0)
        assert (account.balance, lot.remaining) == (3, 3)
        await session.commit()
    assert _entries(owner_db) == before
    ledger_matches_balances(owner_db)


async def test_the_balance_never_goes_negative(
    studio: BookingStudio, database, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=3)
    tenant_id, user_id = uuid.UUID(studio.tenant["id"]), uuid.UUID(member["user"]["id"])
    async with _in_studio(database, studio) as session:
        # Asking for more than there is: the member's refusal, before any write.
        with pytest.raises(exc.InsufficientCredits):
            await ledger.debit(session, tenant_id, user_id, 4)
        account = await _account(session, studio, member)
        lot_id = await session.scalar(select(CreditLot.id))
        assert lot_id is not None
        lot = await _lot(session, lot_id)
        # An account that disagrees with its lots (here: in memory) is caught by the
        # balance rule itself, whatever the lot still holds.
        account.balance = 1
        with pytest.raises(ledger.EntryRefused, match="leave a balance of -1"):
            ledger.write(session, account, lot, Kind.ADJUSTMENT, -2)
        assert (account.balance, lot.remaining) == (1, 3)
        await session.rollback()
    # Spending everything is allowed and leaves exactly zero.
    async with _in_studio(database, studio) as session:
        await ledger.debit(session, tenant_id, user_id, 3)
        await session.commit()
    assert _entries(owner_db)[-1] == ("usage", -3, 0)
    assert await studio.balance(member) == 0
    ledger_matches_balances(owner_db)


def test_the_kinds_are_one_list(owner_db: Owner) -> None:
    """The writer's kinds are the table's CHECK and the API's documented values."""
    check = owner_db.value(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conname = 'ck_credit_transactions_type'"
    )
    assert sorted(value for value in Kind) == sorted(
        part.split("'")[1] for part in check.split("ARRAY[")[1].split(",")
    )
    assert set(typing.get_args(schemas.TransactionType)) == set(Kind)
    assert set(DIRECTION) == set(Kind)
