"""Taking a seat, directly at the studio or through the marketplace, and cancelling.

Every attempt is one read (`repository.read_attempt`), one decision (`eligibility.decide`)
and one write: the seat statement (`repository.send_book_seat`), which is the capacity
guard. A booking is one transaction: the member's credits are debited (their lots
locked), and the booking row inserted with the seat taken last, so the hot class row is
locked for as short a time as possible. If the guard finds no seat, the request rolls
back (or a savepoint does, for a member who asked to join the waitlist instead).

A priced class booked without enough credits holds the seat while the member pays by card
(booking/holds.py): `book` then returns a `SeatHold` instead of a booking.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as accounts_exc, members
from studioloop.accounts.models import User
from studioloop.booking import (
    exceptions as exc,
    holds,
    hooks as booking_hooks,
    notices,
    qr,
    reading,
    repository,
    rush_gate,
    waitlist,
)
from studioloop.booking.eligibility import (
    Attempt,
    Decision,
    Intent,
    JoinWaitlist,
    OccurrenceFacts,
    Refused,
    ResumeHold,
    TakeSeat,
    decide,
)
from studioloop.booking.holds import SeatHold
from studioloop.booking.models import ACTIVE_STATUSES, ONE_ACTIVE_PER_MEMBER, Booking
from studioloop.booking.schemas import BookingOut
from studioloop.config import Settings
from studioloop.credits import service as credits, universal
from studioloop.credits.exceptions import InsufficientCredits
from studioloop.scheduling.models import ClassSchedule


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    user: User
    is_staff: bool  # admin or owner of the booking's studio


# Called with the new booking's id after the credits are taken and before the seat is:
# the marketplace records what the studio is owed, so the hot class row stays locked
# only from the seat to the commit.
BeforeSeat = Callable[[uuid.UUID], Awaitable[None]]


# --- booking at the studio ---------------------------------------------------------------


async def book(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    *,
    join_waitlist: bool,
    credits_to_use: int | None,
    find_studio: bool = False,
) -> BookingOut | SeatHold:
    """Book a seat, or join the waitlist, or (a priced class without the credits for it)
    hold the seat for a card payment. The common case is three round trips before the
    commit: the attempt, the credit lots (locked), and together the debit, the
    confirmation job and last the guarded seat statement with the booking row. With
    `find_studio` (no studio named in the request) the attempt puts the occurrence's
    studio in context."""
    attempt = await repository.read_attempt(
        session, occurrence_id, user_id, find_studio=find_studio
    )
    if attempt is None:  # the account was closed or suspended since the token was issued
        raise accounts_exc.InvalidToken()
    intent = Intent(join_waitlist=join_waitlist, credits_to_use=credits_to_use)
    decision = _settled(attempt, decide(attempt, intent, _now()))
    facts = attempt.facts
    if isinstance(decision, ResumeHold):  # a retry: the same checkout again
        offers = await _offers(session, decision.cost)
        return await holds.existing_hold(session, facts, decision.booking_id, user_id, offers)
    if decision.join_studio:
        await _join_studio(session, facts.tenant_id, user_id)
    booking_id = uuid.uuid4()
    if isinstance(decision, JoinWaitlist):
        return await _waitlisted(session, facts, booking_id, user_id)
    if decision.hold_for_card:
        return await _hold(session, facts, booking_id, user_id, [], join_waitlist)
    try:
        if not join_waitlist:
            # No savepoint: if the seat is gone after all, CLASS_FULL rolls the whole
            # request back, the debit with it.
            return await _take_seat_with_credits(
                session, settings, facts, booking_id, user_id, decision.cost
            )
        try:
            async with session.begin_nested():
                return await _take_seat_with_credits(
                    session, settings, facts, booking_id, user_id, decision.cost
                )
        except exc.ClassFull:
            return await _waitlisted(session, facts, booking_id, user_id)
    except exc.PaymentRequired as needed:
        # Not enough credits for a priced class (the debit wrote nothing): pay by card.
        offers = needed.details.get("packages", []) if isinstance(needed.details, dict) else []
        return await _hold(session, facts, booking_id, user_id, offers, join_waitlist)


def _settled(attempt: Attempt, decision: Decision) -> TakeSeat | JoinWaitlist | ResumeHold:
    """The decision, or its refusal raised. A class found full is remembered, so the next
    attempts at it are answered at the door (booking/rush_gate.py)."""
    if isinstance(decision, Refused):
        if isinstance(decision.error, exc.ClassFull):
            rush_gate.remember_full(attempt.facts.id)
        raise decision.error
    return decision


async def _join_studio(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Booking at a studio makes you its member (its staff see you, your bookings are
    listed with the studio's)."""
    user = await session.get(User, user_id)
    assert user is not None  # the attempt found the account active
    await members.join_tenant(session, tenant_id, user)


async def _hold(
    session: AsyncSession,
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    packages: list[dict[str, Any]],
    join_waitlist: bool,
) -> BookingOut | SeatHold:
    try:
        return await holds.hold_seat(session, facts, booking_id, user_id, packages)
    except exc.ClassFull:
        if not join_waitlist:
            raise
        return await _waitlisted(session, facts, booking_id, user_id)


async def _waitlisted(
    session: AsyncSession, facts: OccurrenceFacts, booking_id: uuid.UUID, user_id: uuid.UUID
) -> BookingOut:
    try:
        booking = await waitlist.join(session, facts, booking_id, user_id)
    except IntegrityError as error:  # the same member, racing themselves
        raise exc.AlreadyBooked() from error
    await notices.tell_later(session, booking, "waitlist_joined", facts.tenant_id)
    return await reading.booking_out(session, booking)


async def _take_seat_with_credits(
    session: AsyncSession,
    settings: Settings,
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    cost: int,
) -> BookingOut:
    code, expires = qr.code_for_booking(
        settings, booking_id, facts.id, facts.tenant_id, facts.end_time
    )
    try:
        # The debit's writes, the job and the seat go in one round trip: only the credit
        # lots (locked and read by the debit) are waited for inside the block.
        async with repository.pipeline(session):
            if cost:
                await credits.debit(
                    session,
                    facts.tenant_id,
                    user_id,
                    cost,
                    booking_id=booking_id,
                    reason=f"Booked {facts.class_name}",
                )
            # Deferred before the seat is taken, so the class's row stays locked for one
            # statement less in a rush; it rolls back with the booking if the seat is gone.
            await notices.tell_later(session, booking_id, "booking_confirmed", facts.tenant_id)
            seat = await repository.send_book_seat(
                session,
                booking_id=booking_id,
                user_id=user_id,
                occurrence_id=facts.id,
                credits_used=cost,
                qr_code=code,
                qr_expires_at=expires,
            )
        created_at = await repository.seat_taken(seat)
    except InsufficientCredits as error:
        raise await _payment_needed(session, facts, error) from None
    except psycopg.errors.UniqueViolation as error:
        # The block's statements all raise here, at its end: only the booking's own
        # uniqueness means the member is booked already.
        if error.diag.constraint_name != ONE_ACTIVE_PER_MEMBER:
            raise
        raise exc.AlreadyBooked() from error
    if created_at is None:
        rush_gate.remember_full(facts.id)
        raise exc.ClassFull(details={"capacity": facts.capacity})
    return confirmed_out(facts, booking_id, user_id, cost, code, expires, created_at)


def confirmed_out(
    facts: OccurrenceFacts,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    credits_used: int,
    qr_code: str,
    qr_expires_at: datetime,
    created_at: datetime,
    booking_type: Literal["direct", "marketplace"] = "direct",
) -> BookingOut:
    """A booking just confirmed, from what the booking statement knew (no re-read)."""
    return BookingOut(
        id=booking_id,
        tenant_id=facts.tenant_id,
        user_id=user_id,
        class_schedule_id=facts.id,
        status="confirmed",
        booking_type=booking_type,
        credits_used=credits_used,
        waitlist_position=None,
        qr_code=qr_code,
        qr_expires_at=qr_expires_at,
        check_in_time=None,
        cancellation_reason=None,
        cancelled_at=None,
        late_cancellation=False,
        class_name=facts.class_name,
        start_time=facts.start_time,
        end_time=facts.end_time,
        created_at=created_at,
    )


async def _offers(session: AsyncSession, covering: int) -> list[dict[str, Any]]:
    """Credit packages on sale that would cover `covering` credits (none for 0)."""
    if covering <= 0:
        return []
    return [
        {
            "id": str(p.id),
            "name": p.name,
            "credits": p.credits,
            "price": p.price,
            "validity_days": p.validity_days,
        }
        for p in await credits.list_packages(session, covering=covering)
    ]


async def _payment_needed(
    session: AsyncSession, facts: OccurrenceFacts, error: InsufficientCredits
) -> Exception:
    known = error.details if isinstance(error.details, dict) else {}
    shortfall = facts.credits_required - int(known.get("balance", 0))
    offers = await _offers(session, shortfall)
    if facts.price is not None:
        price = {
            "price": facts.price,
            "currency": facts.currency,
            "credits_required": facts.credits_required,
        }
        return exc.PaymentRequired(details={**price, "packages": offers})
    return InsufficientCredits(details={**known, "packages": offers})


# --- booking through the marketplace -----------------------------------------------------


async def book_on_marketplace(
    session: AsyncSession,
    settings: Settings,
    attempt: Attempt,
    *,
    credits: int,
    credits_to_use: int | None,
    marketplace_fee: int,
    card_price: int | None,
    before_seat: BeforeSeat,
) -> BookingOut | SeatHold:
    """The same seat, rules and guard as a direct booking, paid with the member's
    universal credits (or, with a `card_price`, held while they pay that by card). The
    marketplace domain decides whether and at what price a class is offered there and
    settles with the studio (`before_seat`). There is no marketplace waitlist."""
    intent = Intent(
        channel="marketplace",
        credits_to_use=credits_to_use,
        marketplace_credits=credits,
        by_card=card_price is not None,
    )
    decision = _settled(attempt, decide(attempt, intent, _now()))
    assert isinstance(decision, TakeSeat)  # the marketplace resumes no hold, has no waitlist
    facts, user_id = attempt.facts, attempt.user_id
    if decision.join_studio:
        await _join_studio(session, facts.tenant_id, user_id)
    booking_id = uuid.uuid4()
    if card_price is not None:
        return await holds.hold_seat(
            session, facts, booking_id, user_id, [], price=card_price, fee=marketplace_fee
        )
    if decision.cost:
        await universal.debit_universal(
            session,
            user_id,
            decision.cost,
            booking_id=booking_id,
            reason=f"Booked {facts.class_name} at {facts.tenant_name}",
            studio_id=facts.tenant_id,
        )
    await before_seat(booking_id)
    await notices.tell_later(session, booking_id, "booking_confirmed", facts.tenant_id)
    code, expires = qr.code_for_booking(
        settings, booking_id, facts.id, facts.tenant_id, facts.end_time
    )
    try:
        sent = await repository.send_book_seat(
            session,
            booking_id=booking_id,
            user_id=user_id,
            occurrence_id=facts.id,
            credits_used=decision.cost,
            marketplace_fee=marketplace_fee,
            qr_code=code,
            qr_expires_at=expires,
        )
        created_at = await repository.seat_taken(sent)
    except psycopg.errors.UniqueViolation as error:
        raise exc.AlreadyBooked() from error
    if created_at is None:  # raised: the credits and the settlement roll back with it
        raise exc.ClassFull(details={"capacity": facts.capacity})
    return confirmed_out(
        facts, booking_id, user_id, decision.cost, code, expires, created_at, "marketplace"
    )


# --- cancelling --------------------------------------------------------------------------


async def cancel(
    session: AsyncSession,
    settings: Settings,
    booking_id: uuid.UUID,
    actor: Actor,
    reason: str | None,
) -> BookingOut:
    booking = await reading.get_booking(session, booking_id, lock=True)
    if booking.user_id != actor.user.id and not actor.is_staff:
        raise exc.BookingNotFound()
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    if booking.status not in ACTIVE_STATUSES or _now() >= facts.start_time:
        raise exc.NotCancellable(details={"status": booking.status})
    booking.cancelled_at = _now()
    booking.cancellation_reason = reason or (
        "Cancelled by the studio" if actor.is_staff and booking.user_id != actor.user.id else None
    )
    booking.cancelled_by_user_id = actor.user.id
    if booking.status == "waitlisted":
        booking.status = "cancelled"
        await repository.change_waitlist(session, facts.id, -1)
        return await reading.booking_out(session, booking)
    if booking.status == "held":
        # Unpaid: nothing to give back now. Should the payment still complete, payments
        # finds the booking cancelled and refunds it.
        booking.status = "cancelled"
        await _free_seat(session, settings, booking, facts, refund_due=True)
        return await reading.booking_out(session, booking)

    late = _now() > facts.start_time - facts.cancellation_window
    by_studio = actor.is_staff and booking.user_id != actor.user.id
    forfeit = (
        late
        and not by_studio
        and facts.tenant_settings.get("late_cancel_policy", "forfeit") == "forfeit"
    )
    refunded = 0
    if not forfeit:
        refunded = await _refund_credits(session, booking, "Booking cancelled")
    booking.status = "cancelled"
    booking.late_cancellation = late and not by_studio
    booking.qr_code = None
    await _free_seat(session, settings, booking, facts, refund_due=not forfeit)
    return await reading.booking_out(session, booking, refunded=refunded)


async def _free_seat(
    session: AsyncSession,
    settings: Settings,
    booking: Booking,
    facts: OccurrenceFacts,
    *,
    refund_due: bool,
) -> None:
    await session.flush()
    await repository.release_seat(
        session, facts.id, marketplace=booking.booking_type == "marketplace"
    )
    await booking_hooks.booking_cancelled(session, booking, refund_due=refund_due)
    await notices.tell_later(session, booking, "booking_cancelled", facts.tenant_id)
    await waitlist.promote(session, settings, facts)


async def _refund_credits(session: AsyncSession, booking: Booking, reason: str) -> int:
    """Give back what a booking was paid with: the studio's credits, or the member's
    universal credits for a marketplace booking."""
    if booking.booking_type == "marketplace":
        return await universal.refund_universal_booking(
            session, booking.user_id, booking.id, reason=reason, studio_id=booking.tenant_id
        )
    return await credits.refund_booking(
        session, booking.tenant_id, booking.user_id, booking.id, reason=reason
    )


async def cancel_all_bookings(
    session: AsyncSession, occurrence: ClassSchedule, reason: str
) -> None:
    """The studio cancelled a class: every booking is cancelled and refunded, people told."""
    facts = await repository.occurrence_facts(session, occurrence.id)
    active = list(
        await session.scalars(
            select(Booking)
            .where(Booking.class_schedule_id == occurrence.id, Booking.status.in_(ACTIVE_STATUSES))
            .with_for_update()
        )
    )
    for booking in active:
        if booking.status != "waitlisted":
            await booking_hooks.booking_cancelled(session, booking, refund_due=True)
        if booking.status == "confirmed":
            await _refund_credits(session, booking, "Class cancelled by the studio")
        booking.status = "cancelled"
        booking.cancelled_at = _now()
        booking.cancellation_reason = reason
        booking.qr_code = None
        await notices.tell(
            session,
            booking.user_id,
            "class_cancelled",
            facts,
            dedup_key=f"class_cancelled:{booking.id}",
            link=f"/my/bookings/{booking.id}",
        )
    await repository.clear_counts(session, occurrence.id)
    await session.flush()
