"""Refunds: all or part of a payment, as often as needed, never more than was paid.

The payment row is locked first, so two refunds of one payment are applied one after the
other; the remaining amount is checked here for a clear error and again by the database
(`amount_refunded <= amount`), which no code path can get round.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.credits import service as credits
from studioloop.jobs.defer import defer_in_transaction
from studioloop.payments import (
    exceptions as exc,
    fulfilment,
    job_names,
    payouts,
    providers,
    service,
)
from studioloop.payments.models import Payment, PaymentRefund
from studioloop.tenants import service as tenants_service

REFUNDABLE = ("succeeded", "partially_refunded")


@dataclass(frozen=True)
class RefundResult:
    refund: PaymentRefund
    payment: Payment
    credits_already_used: int


async def refund(
    session: AsyncSession,
    settings: Settings,
    payment_id: uuid.UUID,
    amount: int,
    *,
    reason: str,
    actor_user_id: uuid.UUID | None,
) -> RefundResult:
    """Refund `amount` of a payment; `actor_user_id` None when the platform does it (an
    automatic refund of a class the member could not have)."""
    payment = await service.get_payment(session, payment_id, lock=True)
    if payment.status not in REFUNDABLE:
        raise exc.NotRefundable(details={"status": payment.status})
    left = payment.amount - payment.amount_refunded
    if amount > left:
        raise exc.RefundExceedsPayment(details={"refundable": left})
    provider = await providers.load(
        session,
        payment.provider,
        settings,
        await tenants_service.settings_of(session, payment.tenant_id),
    )
    reference = await provider.refund(payment.provider_reference or "", amount)

    revoked, used = await _take_back_credits(session, payment, amount, actor_user_id)
    payment.amount_refunded += amount
    await payouts.record_refund(session, settings, payment, amount)
    record = PaymentRefund(
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        amount=amount,
        reason=reason,
        provider_reference=reference,
        credits_revoked=revoked,
        actor_user_id=actor_user_id,
    )
    session.add(record)
    await session.flush()
    status = "refunded" if payment.amount_refunded == payment.amount else "partially_refunded"
    await service.change_status(
        session,
        settings,
        payment,
        status,
        source="api",
        detail={"refund_id": str(record.id), "amount": amount, "credits_revoked": revoked},
    )
    if status == "refunded":
        await fulfilment.refunded(session, settings, payment)
    await session.refresh(record)
    await session.refresh(payment)
    return RefundResult(refund=record, payment=payment, credits_already_used=used)


async def _take_back_credits(
    session: AsyncSession, payment: Payment, amount: int, actor_user_id: uuid.UUID | None
) -> tuple[int, int]:
    """Credits bought with the refunded money, in proportion (a full refund takes them
    all). Returns (taken back, already spent by the member and so kept)."""
    if payment.credit_lot_id is None:
        return 0, 0
    bought = await credits.lot_size(session, payment.credit_lot_id)
    refunded_after = payment.amount_refunded + amount
    # Integer arithmetic, rounded down, cumulative over refunds: the parts add up exactly.
    due_in_total = bought * refunded_after // payment.amount
    due_before = bought * payment.amount_refunded // payment.amount
    due_now = due_in_total - due_before
    if due_now == 0:
        return 0, 0
    taken = await credits.revoke_from_lot(
        session,
        payment.tenant_id,
        payment.user_id,
        payment.credit_lot_id,
        due_now,
        reason="Payment refunded",
        actor_user_id=actor_user_id,
    )
    return taken, due_now - taken


async def defer_refund_in_full(session: AsyncSession, payment: Payment, reason: str) -> None:
    """Give the whole remainder back once this transaction commits (a job, so the
    provider is asked only for a change that is kept)."""
    await defer_in_transaction(
        session,
        job_names.REFUND_PAYMENT_IN_FULL,
        tenant_id=str(payment.tenant_id),
        payment_id=str(payment.id),
        reason=reason,
    )


async def refund_in_full(
    session: AsyncSession, settings: Settings, payment_id: uuid.UUID, reason: str
) -> str:
    """Give back what is left of a payment; safe to run twice."""
    payment = await service.get_payment(session, payment_id, lock=True)
    left = payment.amount - payment.amount_refunded
    if payment.status not in REFUNDABLE or left <= 0:
        return f"nothing to refund ({payment.status})"
    await refund(session, settings, payment_id, left, reason=reason, actor_user_id=None)
    return f"refunded {left}"
