"""Classes paid for by card (seed 000's paid class flow).

The booking engine holds the seat (booking/holds.py); this opens the checkout for it and
applies the payment's outcome: success confirms the booking, or (the hold lapsed and the
class filled meanwhile, or the booking was cancelled) refunds the member in full and tells
them; failure or abandonment ends the hold. A cancelled booking that was paid for is
refunded by a job deferred in the cancelling transaction, so the provider is asked only
once the cancellation is committed, and a retried job refunds nothing twice (the payment
row is locked and only its remainder is refunded).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.booking import holds
from studioloop.booking.holds import SeatHold
from studioloop.booking.models import Booking
from studioloop.config import Settings
from studioloop.core.money import format_money
from studioloop.notifications import service as notifications
from studioloop.payments import receipts, refunds, service
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service

OPEN = ("pending", "requires_action")


async def checkout_for_hold(
    session: AsyncSession, settings: Settings, hold: SeatHold, base_url: str
) -> Payment:
    """The payment for a held seat, with its checkout: the open one if the member asks
    again (a retry on a slow network sends them to the same page), else a new one."""
    existing = await session.scalar(
        select(Payment)
        .where(Payment.booking_id == hold.booking_id, Payment.status.in_(OPEN))
        .order_by(Payment.created_at.desc())
        .limit(1)
    )
    if existing is not None and existing.checkout_url:
        return existing
    tenant = await tenants_service.get_tenant(session, hold.tenant_id)
    local_start = hold.start_time.astimezone(ZoneInfo(tenant.timezone))
    payment = Payment(
        tenant_id=hold.tenant_id,
        user_id=hold.user_id,
        purpose="class_booking",
        booking_id=hold.booking_id,
        # In the studio's own time, as on its timetable and the member's phone.
        description=f"{hold.class_name}, {local_start:%a %d %b %Y %H:%M}",
        amount=hold.price,
        currency=hold.currency,
    )
    await service.open_checkout(
        session, settings, hold.tenant_settings, payment, base_url, platform_fee=hold.platform_fee
    )
    return payment


async def fulfil(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """The class was paid for: confirm the booking, or refund when the place is gone."""
    refusal = (
        await holds.confirm_paid(session, settings, payment.booking_id)
        if payment.booking_id is not None
        else "the booking no longer exists"
    )
    user = await session.get(User, payment.user_id)
    if refusal is not None:
        await refunds.defer_refund_in_full(session, payment, f"Refunded automatically: {refusal}")
        if user is not None:
            await notifications.notify(
                session,
                "class_payment_refunded",
                tenant_id=payment.tenant_id,
                user_id=user.id,
                dedup_key=f"class_payment_refunded:{payment.id}",
                context={
                    "first_name": user.first_name,
                    "description": payment.description,
                    "amount": format_money(payment.amount, payment.currency),
                    "reason": refusal,
                },
            )
        return
    receipt = await receipts.issue(session, payment)
    if user is not None:
        await notifications.notify(
            session,
            "class_paid",
            tenant_id=payment.tenant_id,
            user_id=user.id,
            dedup_key=f"class_paid:{payment.id}",
            attachments=[await receipts.as_attachment(session, settings, payment, receipt)],
            context={
                "first_name": user.first_name,
                "description": payment.description,
                "amount": format_money(payment.amount, payment.currency),
                "payment_id": str(payment.id),
                "receipt_number": receipts.display_number(receipt.number),
            },
        )


async def payment_closed(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """Declined or abandoned: the held seat is freed for others at once."""
    if payment.booking_id is not None:
        await holds.release(session, settings, payment.booking_id)


async def payment_refunded(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """All the money back for a class: the booking goes with it (a no-op when the refund is
    because the booking was already cancelled or lapsed)."""
    if payment.booking_id is not None:
        await holds.cancel_refunded(session, settings, payment.booking_id)


async def refund_cancelled_class(session: AsyncSession, booking: Booking, refund_due: bool) -> None:
    """A class paid for by card, cancelled in time (or by the studio): its money back."""
    if not refund_due:
        return
    paid = await session.scalar(
        select(Payment).where(
            Payment.booking_id == booking.id, Payment.status.in_(refunds.REFUNDABLE)
        )
    )
    if paid is not None:
        await refunds.defer_refund_in_full(session, paid, "Booking cancelled")
