"""Where a member lands after paying, whatever the provider: what happened to their money
and the way back to what they were buying (the booking, the credits, the membership), with
"Try again" after a decline.

Both the sandbox's own checkout page and the page every provider returns the member to
(`/payments/done`) show it. What counts is the payment's state as the webhook left it, so
the page reads the payment rather than trusting how the member got here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.booking import reading as booking_reading
from studioloop.booking.exceptions import BookingNotFound
from studioloop.core.money import format_money
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments import service as payments_service
from studioloop.payments.exceptions import PaymentNotFound
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service

State = Literal["paid", "confirming", "declined", "canceled", "refunded"]
_STATES: dict[str, State] = {
    "pending": "confirming",
    "requires_action": "confirming",
    "succeeded": "paid",
    "failed": "declined",
    "canceled": "canceled",
    "partially_refunded": "refunded",
    "refunded": "refunded",
}


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    amount: str
    state: State
    back_url: str  # what was bought: the booking, the credits, the membership
    back_label: str
    retry_url: str | None  # where to start again, after a decline or a cancelled checkout


def state_of(payment: Payment, *, canceled: bool = False) -> State:
    """The payment's state; a member who came back through the provider's cancel link
    before its webhook arrived has cancelled, whatever the row says yet."""
    state = _STATES.get(payment.status, "confirming")
    return "canceled" if canceled and state == "confirming" else state


async def result_for(
    session: AsyncSession,
    user: User,
    tenant_id: uuid.UUID,
    payment_id: uuid.UUID,
    *,
    canceled: bool = False,
) -> PaymentResult | None:
    """The member's own payment at this studio and the way back, or None (not theirs, or
    not found: the page then says only what any visitor may read)."""
    await enter_tenant_for_transaction(session, tenant_id)
    try:
        payment = await payments_service.get_payment(session, payment_id)
    except PaymentNotFound:
        return None
    if payment.user_id != user.id:
        return None
    tenant = await tenants_service.get_tenant(session, tenant_id)
    studio = f"/s/{tenant.slug}"
    back_url, back_label, retry_url = f"{studio}/credits", "Your credits", f"{studio}/credits"
    if payment.purpose == "class_booking" and payment.booking_id is not None:
        back_url, back_label = f"/my/bookings/{payment.booking_id}", "Your booking"
        try:
            booking = await booking_reading.get_booking(session, payment.booking_id)
        except BookingNotFound:
            retry_url = f"{studio}/timetable"
        else:
            retry_url = f"{studio}/classes/{booking.class_schedule_id}"
    elif payment.purpose.startswith("subscription"):
        back_url, back_label = f"{studio}/membership", "Your membership"
        retry_url = f"{studio}/memberships"
    return PaymentResult(
        payment=payment,
        amount=format_money(payment.amount, payment.currency),
        state=state_of(payment, canceled=canceled),
        back_url=back_url,
        back_label=back_label,
        retry_url=retry_url,
    )
