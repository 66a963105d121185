"""Booking through the marketplace: the same seat, rules and guard as a direct booking,
paid with the member's universal credits instead of the studio's.

The marketplace domain decides whether and at what price a class is offered there and
settles with the studio (`before_seat`); this module keeps the booking rules in one
domain. There is no marketplace waitlist: a full class answers CLASS_FULL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import service as accounts_service
from studioloop.accounts.models import User
from studioloop.booking import (
    exceptions as exc,
    holds,
    notices,
    qr,
    repository,
    rules,
    service as booking_service,
)
from studioloop.booking.holds import SeatHold
from studioloop.booking.schemas import BookingOut
from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.credits import universal
from studioloop.scheduling.capacity import OccurrenceFacts

# Called with the new booking's id after the credits are taken and before the seat is:
# the marketplace records what the studio is owed, so the hot class row stays locked
# only from the seat to the commit.
BeforeSeat = Callable[[uuid.UUID], Awaitable[None]]


async def _check(
    session: AsyncSession,
    user: User,
    facts: OccurrenceFacts,
    marketplace_seats_left: int | None,
) -> None:
    """The booking rules, in the order a direct booking checks them; the member joins the
    studio (as a direct booking makes them) so it knows who is coming and they find the
    booking among their own."""
    rules.check_open(facts)
    if facts.requires_membership:
        raise exc.MembershipRequired()
    state = await repository.member_state(
        session, facts.tenant_id, facts.id, user.id, facts.start_time, facts.end_time
    )
    if state.booked is not None:
        raise exc.AlreadyBooked(details={"booking_id": str(state.booked)})
    if state.clash is not None:
        raise exc.MemberScheduleConflict(details={"booking_id": str(state.clash)})
    if facts.booked_count >= facts.capacity:
        raise exc.ClassFull(details={"capacity": facts.capacity})
    if marketplace_seats_left is not None and marketplace_seats_left <= 0:
        # The studio's own members may still find seats; the marketplace's share is gone.
        raise exc.ClassFull(
            "The places this studio offers on the marketplace are taken for this class.",
            details={"marketplace_seats_left": 0},
        )
    if state.membership_status is None:
        await accounts_service.join_tenant(session, facts.tenant_id, user)
    elif state.membership_status != "active":
        raise exc.MembershipInactive()
    await rules.check_limits(session, facts, user.id)


async def book_with_universal_credits(
    session: AsyncSession,
    settings: Settings,
    user: User,
    facts: OccurrenceFacts,
    *,
    credits: int,
    credits_to_use: int | None,
    marketplace_fee: int,
    marketplace_seats_left: int | None,
    before_seat: BeforeSeat,
) -> BookingOut:
    if credits_to_use is not None and credits_to_use != credits:
        raise field_error("credits_to_use", f"this class costs {credits} universal credit(s)")
    await _check(session, user, facts, marketplace_seats_left)

    booking_id = uuid.uuid4()
    if credits:
        await universal.debit_universal(
            session,
            user.id,
            credits,
            booking_id=booking_id,
            reason=f"Booked {facts.class_name} at {facts.tenant_name}",
            studio_id=facts.tenant_id,
        )
    await before_seat(booking_id)
    await notices.tell_later(session, booking_id, "booking_confirmed", facts.tenant_id)
    code, expires = qr.code_for_booking(
        settings, booking_id, facts.id, facts.tenant_id, facts.end_time
    )
    created_at = await _take_seat(
        session,
        facts,
        booking_id=booking_id,
        user_id=user.id,
        occurrence_id=facts.id,
        credits_used=credits,
        marketplace_fee=marketplace_fee,
        qr_code=code,
        qr_expires_at=expires,
    )
    return booking_service.confirmed_out(
        facts, booking_id, user.id, credits, code, expires, created_at, "marketplace"
    )


async def hold_for_card(
    session: AsyncSession,
    user: User,
    facts: OccurrenceFacts,
    *,
    price: int,
    marketplace_fee: int,
    marketplace_seats_left: int | None,
) -> SeatHold:
    """Hold a marketplace seat while the member pays its card price (the same hold as a
    direct card booking: it lapses unpaid after the studio's seat-hold minutes)."""
    await _check(session, user, facts, marketplace_seats_left)
    booking_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(minutes=holds.hold_minutes(facts.tenant_settings))
    await _take_seat(
        session,
        facts,
        booking_id=booking_id,
        user_id=user.id,
        occurrence_id=facts.id,
        credits_used=0,
        marketplace_fee=marketplace_fee,
        qr_code=None,
        qr_expires_at=None,
        hold_expires_at=expires_at,
    )
    return SeatHold(
        booking_id=booking_id,
        tenant_id=facts.tenant_id,
        user_id=user.id,
        occurrence_id=facts.id,
        class_name=facts.class_name,
        start_time=facts.start_time,
        price=price,
        currency=facts.currency,
        credits_required=0,
        expires_at=expires_at,
        tenant_settings=facts.tenant_settings,
        platform_fee=marketplace_fee,
    )


async def _take_seat(session: AsyncSession, facts: OccurrenceFacts, **booking: Any) -> datetime:
    """A marketplace seat and its booking row (repository.book_marketplace_seat); its
    creation time. ALREADY_BOOKED for a second active booking of the member, CLASS_FULL
    when the class filled or the marketplace's share of it did: raised, so the request
    rolls back, the credits and the settlement with it."""
    try:
        created_at = await repository.book_marketplace_seat(session, **booking)
    except psycopg.errors.UniqueViolation as error:
        raise exc.AlreadyBooked() from error
    if created_at is None:
        raise exc.ClassFull(details={"capacity": facts.capacity})
    return created_at
