"""Seats held while a member pays for a class by card.

Booking a priced class without credits (or a covering membership) takes the seat at once,
as a `held` booking that counts against capacity like a confirmed one, so the member who
goes to the checkout cannot lose the place to someone who did not. The hold lasts the
studio's `seat_hold_minutes` (15 by default). Then one of these happens:

- the payment succeeds: the booking is confirmed (payments calls `confirm_paid`);
- the payment fails or is abandoned, or the hold lapses first: the booking `expired`, the
  seat is offered to the waitlist;
- the money arrives after the hold lapsed: the member is placed if a seat is still free,
  and otherwise `confirm_paid` says so and payments refunds them in full.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import exceptions as exc, qr, repository, waitlist
from studioloop.booking.eligibility import Intent, OccurrenceFacts, Refused, decide
from studioloop.booking.models import SEAT_STATUSES, Booking
from studioloop.config import Settings

EXPIRY_BATCH = 200


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SeatHold:
    """A held seat waiting for its payment: what the checkout needs, and the 402's details."""

    booking_id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    occurrence_id: uuid.UUID
    class_name: str
    start_time: datetime
    price: int
    currency: str
    credits_required: int
    expires_at: datetime
    tenant_settings: dict[str, Any] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    # The platform's fee on the payment when it is not the usual one (a marketplace
    # booking pays the marketplace commission instead).
    platform_fee: int | None = None

    def details(self) -> dict[str, Any]:
        return {
            "booking_id": str(self.booking_id),
            "hold_expires_at": self.expires_at.isoformat(),
            "price": self.price,
            "currency": self.currency,
            "credits_required": self.credits_required,
            "packages": self.packages,
        }


def _hold_of(
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    expires_at: datetime,
    packages: list[dict[str, Any]],
    *,
    price: int | None = None,
    fee: int | None = None,
) -> SeatHold:
    card_price = facts.price if price is None else price
    assert card_price is not None  # only priced classes are held
    return SeatHold(
        booking_id=booking_id,
        tenant_id=facts.tenant_id,
        user_id=user_id,
        occurrence_id=facts.id,
        class_name=facts.class_name,
        start_time=facts.start_time,
        price=card_price,
        currency=facts.currency,
        # A marketplace seat is paid by card or in universal credits, never the studio's.
        credits_required=facts.credits_required if fee is None else 0,
        expires_at=expires_at,
        tenant_settings=facts.tenant_settings,
        packages=packages,
        platform_fee=fee,
    )


async def hold_seat(
    session: AsyncSession,
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    packages: list[dict[str, Any]],
    *,
    price: int | None = None,
    fee: int | None = None,
) -> SeatHold:
    """Take a seat as a hold (the same seat statement as a booking), or CLASS_FULL. A
    marketplace hold has the marketplace's card `price` and its `fee` on the payment."""
    expires_at = _now() + facts.seat_hold
    try:
        sent = await repository.send_book_seat(
            session,
            booking_id=booking_id,
            user_id=user_id,
            occurrence_id=facts.id,
            credits_used=0,
            qr_code=None,
            qr_expires_at=None,
            hold_expires_at=expires_at,
            marketplace_fee=fee,
        )
        created = await repository.seat_taken(sent)
    except psycopg.errors.UniqueViolation as error:
        raise exc.AlreadyBooked() from error
    if created is None:
        raise exc.ClassFull(details={"capacity": facts.capacity})
    return _hold_of(facts, booking_id, user_id, expires_at, packages, price=price, fee=fee)


async def existing_hold(
    session: AsyncSession,
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    packages: list[dict[str, Any]],
) -> SeatHold:
    """The member's hold on this class, for a retried booking: the same checkout again."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.hold_expires_at is None:
        raise exc.AlreadyBooked(details={"booking_id": str(booking_id)})
    return _hold_of(facts, booking_id, user_id, booking.hold_expires_at, packages)


async def _lock(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    booking: Booking | None = await session.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return booking


async def release(session: AsyncSession, settings: Settings, booking_id: uuid.UUID) -> bool:
    """The payment failed or was abandoned: an unpaid hold ends (`expired`) and its seat
    goes to the waitlist. False if the booking was no longer held."""
    booking = await _lock(session, booking_id)
    if booking is None or booking.status != "held":
        return False
    await _expire(session, settings, booking)
    return True


async def _expire(session: AsyncSession, settings: Settings, booking: Booking) -> None:
    booking.status = "expired"
    await session.flush()
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    await repository.release_seat(session, facts.id, marketplace=_marketplace(booking))
    if facts.status == "scheduled" and _now() < facts.start_time:
        await waitlist.promote(session, settings, facts)


async def expire_lapsed(
    session: AsyncSession, settings: Settings, now: datetime | None = None
) -> int:
    """End the holds of the studio in context whose time is up; how many."""
    lapsed = list(
        await session.scalars(
            select(Booking)
            .where(Booking.status == "held", Booking.hold_expires_at < (now or _now()))
            .order_by(Booking.hold_expires_at)
            .limit(EXPIRY_BATCH)
            # A payment being confirmed has the row: it decides, not the clock.
            .with_for_update(skip_locked=True)
        )
    )
    for booking in lapsed:
        await _expire(session, settings, booking)
    return len(lapsed)


async def confirm_paid(
    session: AsyncSession, settings: Settings, booking_id: uuid.UUID
) -> str | None:
    """The class was paid for: confirm the booking. None when it is confirmed; otherwise
    why the member cannot have the place (payments then refunds them)."""
    booking = await _lock(session, booking_id)
    if booking is None:
        return "the booking no longer exists"
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    if booking.status == "held":
        await _confirm(session, settings, booking, facts)
        return None
    if booking.status != "expired":
        return f"the booking is {booking.status}"
    # Paid after the hold lapsed: place them if the booking rules still allow it.
    attempt = await repository.read_attempt(session, facts.id, booking.user_id, keep_caller=True)
    decision = (
        Refused(exc.BookingWindowClosed())
        if attempt is None  # the account was closed meanwhile
        else decide(attempt, Intent(channel="paid_hold"), _now())
    )
    if isinstance(decision, Refused):
        return _LATE_PAYMENT_REFUSALS.get(decision.error.code, decision.error.message)
    if not await repository.take_seat(session, facts.id, marketplace=_marketplace(booking)):
        return _LATE_PAYMENT_REFUSALS[exc.ClassFull.code]
    await _confirm(session, settings, booking, facts)
    return None


# Why a payment that arrived after its hold lapsed cannot have the place (the refund says).
_LATE_PAYMENT_REFUSALS = {
    exc.ClassFull.code: "the class filled up after the seat hold expired",
    exc.AlreadyBooked.code: "the member has booked this or another class at that time since",
    exc.MemberScheduleConflict.code: (
        "the member has booked this or another class at that time since"
    ),
    exc.BookingWindowClosed.code: "the class is no longer bookable",
    exc.ClassCancelled.code: "the class is no longer bookable",
}


async def _confirm(
    session: AsyncSession, settings: Settings, booking: Booking, facts: OccurrenceFacts
) -> None:
    booking.status = "confirmed"
    booking.hold_expires_at = None
    booking.qr_code, booking.qr_expires_at = qr.code_for_booking(
        settings, booking.id, facts.id, facts.tenant_id, facts.end_time
    )
    await session.flush()


async def cancel_refunded(session: AsyncSession, settings: Settings, booking_id: uuid.UUID) -> bool:
    """The studio refunded a class in full: its upcoming booking goes with the money, the
    seat to the waitlist. False when there was nothing to cancel."""
    booking = await _lock(session, booking_id)
    if booking is None or booking.status not in SEAT_STATUSES:
        return False
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    if _now() >= facts.start_time:
        return False  # the class happened: the refund is a goodwill gesture, not a cancel
    booking.status = "cancelled"
    booking.cancelled_at = _now()
    booking.cancellation_reason = "Payment refunded"
    booking.qr_code = None
    await session.flush()
    await repository.release_seat(session, facts.id, marketplace=_marketplace(booking))
    await waitlist.promote(session, settings, facts)
    return True


def _marketplace(booking: Booking) -> bool:
    """Booked through the marketplace: its seat is one of the marketplace's too."""
    return booking.booking_type == "marketplace"
