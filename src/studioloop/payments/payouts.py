"""Payouts: what the platform owes each studio, and sending it.

Money the platform collects for a studio (the sandbox; Stripe when the studio has no
connected account) enters the studio's payout ledger: the payment in, the platform's fee
out (PLATFORM_FEE_BASIS_POINTS, the same fee Stripe destination charges take), refunds out
with the fee's share back. Money that goes straight to the studio (Yoco, its own account;
Stripe destination charges) is not owed and stays out of it. A payout sends the balance to
the studio's connected Stripe account as a Transfer.

Every entry is added under the studio's payout account row, locked, so the balance is the
sum of the entries and two payouts at once cannot both send it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking.models import Booking
from studioloop.config import Settings
from studioloop.payments import exceptions as exc
from studioloop.payments.models import Payment, PayoutAccount, PayoutEntry
from studioloop.payments.stripe_provider import StripeProvider
from studioloop.tenants import service as tenants_service


@dataclass(frozen=True)
class Movement:
    entry_type: str
    amount: int
    description: str


def platform_fee(settings: Settings, amount: int) -> int:
    return amount * settings.platform_fee_basis_points // 10_000


async def _locked_account(
    session: AsyncSession, tenant_id: uuid.UUID, currency: str
) -> PayoutAccount:
    await session.execute(
        insert(PayoutAccount)
        .values(tenant_id=tenant_id, currency=currency)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    account = await session.scalar(
        select(PayoutAccount)
        .where(PayoutAccount.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    return account


async def _append(
    session: AsyncSession,
    account: PayoutAccount,
    movements: list[Movement],
    *,
    payment_id: uuid.UUID | None = None,
    booking_id: uuid.UUID | None = None,
    reference: str | None = None,
) -> None:
    for movement in movements:
        if movement.amount == 0:
            continue
        account.balance += movement.amount
        session.add(
            PayoutEntry(
                tenant_id=account.tenant_id,
                entry_type=movement.entry_type,
                amount=movement.amount,
                balance_after=account.balance,
                currency=account.currency,
                payment_id=payment_id,
                booking_id=booking_id,
                reference=reference,
                description=movement.description[:255],
            )
        )
    await session.flush()


async def record_payment(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """A payment succeeded: if the platform holds the money, the studio is owed it, less
    the fee."""
    if not payment.platform_collected:
        return
    account = await _locked_account(session, payment.tenant_id, payment.currency)
    await _append(
        session,
        account,
        [
            Movement("payment", payment.amount, payment.description),
            Movement("fee", -payment.platform_fee, "Platform fee"),
        ],
        payment_id=payment.id,
    )


async def record_refund(
    session: AsyncSession, settings: Settings, payment: Payment, amount: int
) -> None:
    """Part of a platform-collected payment went back: the studio is owed that much less,
    and the fee on it comes back (integer shares, cumulative, so they add up exactly)."""
    if not payment.platform_collected:
        return
    fee = payment.platform_fee
    before = payment.amount_refunded - amount  # refunds.refund has already added it
    fee_back = fee * payment.amount_refunded // payment.amount - fee * before // payment.amount
    account = await _locked_account(session, payment.tenant_id, payment.currency)
    await _append(
        session,
        account,
        [
            Movement("refund", -amount, f"Refund: {payment.description}"),
            Movement("fee_refund", fee_back, "Platform fee on the refund"),
        ],
        payment_id=payment.id,
    )


async def settle_marketplace_booking(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    currency: str,
    booking_id: uuid.UUID,
    *,
    gross: int,
    commission: int,
    description: str,
) -> None:
    """A marketplace booking at this studio: it is owed the credits' worth, less the
    platform's commission (both entries name the booking)."""
    account = await _locked_account(session, tenant_id, currency)
    await _append(
        session,
        account,
        [
            Movement("marketplace", gross, description),
            Movement("commission", -commission, "Marketplace commission"),
        ],
        booking_id=booking_id,
    )


async def reverse_marketplace_settlement(
    session: AsyncSession, booking: Booking, refund_due: bool
) -> None:
    """A marketplace booking cancelled with its credits given back: the studio is no
    longer owed them, nor the platform its commission. (A forfeited late cancellation
    keeps both.) Reversed from what was recorded, once."""
    if booking.booking_type != "marketplace" or not refund_due:
        return
    rows = await session.execute(
        select(PayoutEntry.entry_type, func.sum(PayoutEntry.amount))
        .where(PayoutEntry.booking_id == booking.id)
        .group_by(PayoutEntry.entry_type)
    )
    totals = {entry_type: int(total) for entry_type, total in rows}
    still_owed = totals.get("marketplace", 0) + totals.get("marketplace_refund", 0)
    commission_kept = totals.get("commission", 0) + totals.get("commission_refund", 0)
    if still_owed == 0 and commission_kept == 0:
        return
    currency = (await tenants_service.get_tenant(session, booking.tenant_id)).currency
    account = await _locked_account(session, booking.tenant_id, currency)
    await _append(
        session,
        account,
        [
            Movement("marketplace_refund", -still_owed, "Marketplace booking cancelled"),
            Movement("commission_refund", -commission_kept, "Marketplace commission returned"),
        ],
        booking_id=booking.id,
    )


async def account_of(session: AsyncSession, tenant_id: uuid.UUID) -> PayoutAccount | None:
    account: PayoutAccount | None = await session.get(PayoutAccount, tenant_id)
    return account


async def entries(session: AsyncSession, limit: int) -> list[PayoutEntry]:
    """The studio in context's ledger, newest first."""
    return list(
        await session.scalars(select(PayoutEntry).order_by(PayoutEntry.seq.desc()).limit(limit))
    )


async def pay_out(session: AsyncSession, settings: Settings, tenant_id: uuid.UUID) -> PayoutEntry:
    """Send what is owed to the studio's connected Stripe account, now."""
    tenant_settings = await tenants_service.settings_of(session, tenant_id)
    destination = tenant_settings.get("stripe_account_id")
    if not isinstance(destination, str) or not destination:
        raise exc.ProviderNotConfigured(
            "Connect a Stripe account to receive payouts.",
            details={"provider": "stripe", "setting": "stripe_account_id"},
        )
    provider = StripeProvider(settings, destination)
    tenant = await tenants_service.get_tenant(session, tenant_id)
    account = await _locked_account(session, tenant_id, tenant.currency)
    if account.balance <= 0:
        raise exc.NothingToPayOut(details={"balance": account.balance})
    amount = account.balance
    # Numbered per studio, so a retry after a lost answer (rolled back, the same number
    # again) is recognised by Stripe's idempotency and never sends the money twice.
    key = f"payout-{tenant_id}-{account.transfers + 1}"
    reference = await provider.transfer(amount, account.currency, key)
    account.transfers += 1
    await _append(
        session,
        account,
        [Movement("transfer", -amount, f"Payout to {destination}")],
        reference=reference,
    )
    entry = await session.scalar(
        select(PayoutEntry).where(PayoutEntry.reference == reference).limit(1)
    )
    assert entry is not None
    return entry
