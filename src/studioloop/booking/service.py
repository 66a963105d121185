"""Bookings: taking a seat with credits, the waitlist, cancellation, rosters.

A booking is one transaction: the member's credits are debited (their account row locked),
the booking row inserted, and the seat taken last with the guarded UPDATE, so the hot
class row is locked for as short a time as possible. If the guard finds no seat, a
savepoint undoes the debit and the member joins the waitlist or hears CLASS_FULL.

A priced class booked without enough credits holds the seat while the member pays by card
(booking/holds.py): `book` then returns a `SeatHold` instead of a booking.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as accounts_exc, service as accounts_service
from studioloop.accounts.models import User
from studioloop.booking import (
    entitlements,
    exceptions as exc,
    holds,
    hooks as booking_hooks,
    notices,
    qr,
    repository,
    rules,
    sold_out,
    waitlist,
)
from studioloop.booking.holds import SeatHold
from studioloop.booking.models import ACTIVE_STATUSES, ONE_ACTIVE_PER_MEMBER, Booking
from studioloop.booking.schemas import BookingOut
from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.credits import service as credits, universal
from studioloop.credits.exceptions import InsufficientCredits
from studioloop.db import raw
from studioloop.db.tenancy import set_user_context
from studioloop.scheduling import capacity, hooks
from studioloop.scheduling.capacity import OccurrenceFacts
from studioloop.scheduling.models import ClassSchedule, ClassTemplate


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    user: User
    is_staff: bool  # admin or owner of the booking's studio


# --- booking -----------------------------------------------------------------------------


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
    hold the seat for a card payment. The common case is four round trips before the
    commit: the facts with the member's bookings and membership, the membership plan, the
    credit lots (locked), and together the debit, the confirmation job and last the
    guarded seat UPDATE with the booking row, so the hot class row stays locked only from
    there to the commit. With `find_studio` (no studio named in the request) the
    occurrence's studio is put in context by the first statement."""
    attempt = await repository.booking_attempt(
        session, occurrence_id, user_id, find_studio=find_studio
    )
    if attempt is None:  # the account was closed or suspended since the token was issued
        raise accounts_exc.InvalidToken()
    facts, state = attempt
    rules.check_open(facts)
    if state.booked is not None:
        if state.booked_status == "held":  # a retry: the same checkout again
            offers = await _offers(session, facts.credits_required)
            return await holds.existing_hold(session, facts, state.booked, user_id, offers)
        raise exc.AlreadyBooked(details={"booking_id": str(state.booked)})
    if state.clash is not None:
        raise exc.MemberScheduleConflict(details={"booking_id": str(state.clash)})
    full_already = facts.booked_count >= facts.capacity
    if full_already and not join_waitlist:
        # In a rush most attempts end here: answer before the costlier checks. (The
        # guarded UPDATE below still decides for those who saw a free seat.) The next
        # attempts at this class are answered without a transaction (sold_out.py).
        sold_out.remember_full(facts.id)
        raise exc.ClassFull(details={"capacity": facts.capacity})
    if state.membership_status is None:
        # Booking at a studio makes you its member.
        user = await session.get(User, user_id)
        assert user is not None  # booking_attempt found the account active
        await accounts_service.join_tenant(session, facts.tenant_id, user)
    elif state.membership_status != "active":
        raise exc.MembershipInactive()
    await rules.check_limits(session, facts, user_id)
    entitlement = await entitlements.entitlement_of(session, facts.tenant_id, user_id)
    if facts.requires_membership and not entitlement.has_membership:
        raise exc.MembershipRequired()
    cost = waitlist.cost_for(facts, entitlement)
    if credits_to_use is not None and credits_to_use != cost:
        raise field_error("credits_to_use", f"this class costs you {cost} credit(s)")

    booking_id = uuid.uuid4()
    if full_already:
        return await _waitlisted(session, facts, booking_id, user_id)
    if cost == 0 and facts.price is not None and not entitlement.covers(facts.class_type):
        return await _hold(session, facts, booking_id, user_id, [], join_waitlist)
    try:
        if not join_waitlist:
            # No savepoint: if the seat is gone after all, CLASS_FULL rolls the whole
            # request back, the debit with it.
            return await _take_seat_with_credits(
                session, settings, facts, booking_id, user_id, cost
            )
        try:
            async with session.begin_nested():
                return await _take_seat_with_credits(
                    session, settings, facts, booking_id, user_id, cost
                )
        except exc.ClassFull:
            return await _waitlisted(session, facts, booking_id, user_id)
    except exc.PaymentRequired as needed:
        # Not enough credits for a priced class (the debit wrote nothing): pay by card.
        offers = needed.details.get("packages", []) if isinstance(needed.details, dict) else []
        return await _hold(session, facts, booking_id, user_id, offers, join_waitlist)


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
    return await booking_out(session, booking)


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
        async with raw.pipeline(session):
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
        sold_out.remember_full(facts.id)
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


def _price_details(facts: OccurrenceFacts) -> dict[str, Any]:
    return {
        "price": facts.price,
        "currency": facts.currency,
        "credits_required": facts.credits_required,
    }


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
        return exc.PaymentRequired(details={**_price_details(facts), "packages": offers})
    return InsufficientCredits(details={**known, "packages": offers})


# --- reading -----------------------------------------------------------------------------


async def waitlist_position(session: AsyncSession, booking: Booking) -> int | None:
    if booking.status != "waitlisted":
        return None
    ahead = await session.scalar(
        select(func.count()).where(
            Booking.class_schedule_id == booking.class_schedule_id,
            Booking.status == "waitlisted",
            Booking.waitlisted_at < booking.waitlisted_at,
        )
    )
    return int(ahead or 0) + 1


async def booking_out(
    session: AsyncSession, booking: Booking, *, refunded: int | None = None
) -> BookingOut:
    await session.flush()
    await session.refresh(booking)
    row = (
        await session.execute(
            select(ClassTemplate.name, ClassSchedule.start_time, ClassSchedule.end_time)
            .join(ClassSchedule, ClassSchedule.class_id == ClassTemplate.id)
            .where(ClassSchedule.id == booking.class_schedule_id)
        )
    ).one()
    return BookingOut(
        id=booking.id,
        tenant_id=booking.tenant_id,
        user_id=booking.user_id,
        class_schedule_id=booking.class_schedule_id,
        status=booking.status,
        booking_type=booking.booking_type,
        credits_used=booking.credits_used,
        waitlist_position=await waitlist_position(session, booking),
        qr_code=booking.qr_code,
        qr_expires_at=booking.qr_expires_at,
        check_in_time=booking.check_in_time,
        hold_expires_at=booking.hold_expires_at if booking.status == "held" else None,
        cancellation_reason=booking.cancellation_reason,
        cancelled_at=booking.cancelled_at,
        late_cancellation=booking.late_cancellation,
        credits_refunded=refunded,
        class_name=row[0],
        start_time=row[1],
        end_time=row[2],
        created_at=booking.created_at,
    )


async def get_booking(
    session: AsyncSession, booking_id: uuid.UUID, *, lock: bool = False
) -> Booking:
    query = select(Booking).where(Booking.id == booking_id)
    booking = await session.scalar(query.with_for_update() if lock else query)
    if booking is None:
        raise exc.BookingNotFound()
    return booking


async def booked_among(
    session: AsyncSession, user_id: uuid.UUID, occurrence_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these class times, at any studio, the member already holds a place (or a
    waitlist spot) in: their own bookings are visible to them across studios."""
    if not occurrence_ids:
        return set()
    await set_user_context(session, user_id)
    found = await session.scalars(
        select(Booking.class_schedule_id).where(
            Booking.user_id == user_id,
            Booking.class_schedule_id.in_(occurrence_ids),
            Booking.status.in_(ACTIVE_STATUSES),
        )
    )
    return set(found)


async def list_bookings(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    status: str | None,
    start_from: datetime | None,
    start_to: datetime | None,
    limit: int,
) -> list[BookingOut]:
    query = (
        select(Booking)
        .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
        .where(Booking.user_id == user_id)
    )
    if status:
        query = query.where(Booking.status == status)
    if start_from:
        query = query.where(ClassSchedule.start_time >= start_from)
    if start_to:
        query = query.where(ClassSchedule.start_time < start_to)
    rows = await session.scalars(query.order_by(ClassSchedule.start_time).limit(limit))
    return [await booking_out(session, b) for b in rows]


# --- cancelling and the waitlist ---------------------------------------------------------


async def cancel(
    session: AsyncSession,
    settings: Settings,
    booking_id: uuid.UUID,
    actor: Actor,
    reason: str | None,
) -> BookingOut:
    booking = await get_booking(session, booking_id, lock=True)
    if booking.user_id != actor.user.id and not actor.is_staff:
        raise exc.BookingNotFound()
    facts = await capacity.occurrence_facts(session, booking.class_schedule_id)
    if booking.status not in ACTIVE_STATUSES or _now() >= facts.start_time:
        raise exc.NotCancellable(details={"status": booking.status})
    booking.cancelled_at = _now()
    booking.cancellation_reason = reason or (
        "Cancelled by the studio" if actor.is_staff and booking.user_id != actor.user.id else None
    )
    booking.cancelled_by_user_id = actor.user.id
    if booking.status == "waitlisted":
        booking.status = "cancelled"
        await capacity.change_waitlist(session, facts.id, -1)
        return await booking_out(session, booking)
    if booking.status == "held":
        # Unpaid: nothing to give back now. Should the payment still complete, payments
        # finds the booking cancelled and refunds it.
        booking.status = "cancelled"
        await session.flush()
        await capacity.release_seat(
            session, facts.id, marketplace=booking.booking_type == "marketplace"
        )
        await booking_hooks.booking_cancelled(session, booking, refund_due=True)
        await notices.tell_later(session, booking, "booking_cancelled", facts.tenant_id)
        await waitlist.promote(session, settings, facts)
        return await booking_out(session, booking)

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
    await session.flush()
    await capacity.release_seat(
        session, facts.id, marketplace=booking.booking_type == "marketplace"
    )
    await booking_hooks.booking_cancelled(session, booking, refund_due=not forfeit)
    await notices.tell_later(session, booking, "booking_cancelled", facts.tenant_id)
    await waitlist.promote(session, settings, facts)
    return await booking_out(session, booking, refunded=refunded)


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


@hooks.on_occurrence_cancelled
async def _cancel_all_bookings(
    session: AsyncSession, occurrence: ClassSchedule, reason: str
) -> None:
    """The studio cancelled a class: every booking is cancelled and refunded, people told."""
    facts = await capacity.occurrence_facts(session, occurrence.id)
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
        )
    await capacity.clear_counts(session, occurrence.id)
    await session.flush()
