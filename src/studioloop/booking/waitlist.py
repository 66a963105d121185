"""The waitlist: joining it, and offering a freed seat to the first eligible member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import exceptions as exc, notices, qr, repository
from studioloop.booking.eligibility import Intent, OccurrenceFacts, Refused, TakeSeat, decide
from studioloop.booking.models import Booking
from studioloop.config import Settings
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.credits.exceptions import InsufficientCredits


def _now() -> datetime:
    return datetime.now(UTC)


class _NoSeat(Exception):
    """Raised inside the promotion savepoint to undo the debit when the seat is gone."""


# Refusals that end the promotion for everyone (the class, not the member, is the reason).
_NOBODY_GETS_IT = (exc.ClassFull, exc.BookingWindowClosed, exc.ClassCancelled)


async def join(
    session: AsyncSession, facts: OccurrenceFacts, booking_id: uuid.UUID, user_id: uuid.UUID
) -> Booking:
    booking = Booking(
        id=booking_id,
        tenant_id=facts.tenant_id,
        user_id=user_id,
        class_schedule_id=facts.id,
        status="waitlisted",
        waitlisted_at=_now(),
    )
    async with session.begin_nested():
        session.add(booking)
        await session.flush()
    await repository.change_waitlist(session, facts.id, +1)
    return booking


async def promote(
    session: AsyncSession, settings: Settings, facts: OccurrenceFacts
) -> Booking | None:
    """Offer a freed seat to the first eligible waitlisted member, in this transaction.
    Each candidate is asked the booking decision like any booking; one it refuses (booked
    into a clashing class since joining, say) stays on the waitlist in case that changes.
    A member who cannot pay in credits for a class with a card price is given the seat as
    a hold to pay for, as a booking would be; without a card price they are passed over
    (and told) while the next member gets it."""
    waiting = list(
        await session.scalars(
            select(Booking)
            .where(Booking.class_schedule_id == facts.id, Booking.status == "waitlisted")
            .order_by(Booking.waitlisted_at)
            .with_for_update(skip_locked=True)
        )
    )
    for candidate in waiting:
        attempt = await repository.read_attempt(
            session, facts.id, candidate.user_id, keep_caller=True
        )
        if attempt is None:  # their account was closed meanwhile
            continue
        decision = decide(attempt, Intent(channel="promotion"), _now())
        if isinstance(decision, Refused):
            if isinstance(decision.error, _NOBODY_GETS_IT):
                return None
            continue
        assert isinstance(decision, TakeSeat)  # a promotion neither waits nor resumes a hold
        try:
            async with session.begin_nested():
                if decision.cost and not decision.hold_for_card:
                    await credits.debit(
                        session,
                        facts.tenant_id,
                        candidate.user_id,
                        decision.cost,
                        booking_id=candidate.id,
                        reason=f"Promoted from the waitlist of {facts.class_name}",
                    )
                if not await repository.take_seat(session, facts.id):
                    raise _NoSeat
        except InsufficientCredits:
            if facts.price is not None:
                return await _offer_hold(session, facts, candidate)
            await notices.tell(
                session,
                candidate.user_id,
                "waitlist_skipped",
                facts,
                dedup_key=f"waitlist_skipped:{candidate.id}",
            )
            continue
        except _NoSeat:
            return None
        if decision.hold_for_card:
            # The seat is taken; it waits for the member's card like a booking's hold.
            return await _offer_hold(session, facts, candidate, seat_taken=True)
        candidate.status, candidate.credits_used = "confirmed", decision.cost
        candidate.qr_code, candidate.qr_expires_at = qr.code_for_booking(
            settings, candidate.id, facts.id, facts.tenant_id, facts.end_time
        )
        candidate.promoted_at = _now()
        await repository.change_waitlist(session, facts.id, -1)
        await session.flush()
        await notices.tell(
            session,
            candidate.user_id,
            "waitlist_promoted",
            facts,
            dedup_key=f"waitlist_promoted:{candidate.id}",
            link=f"/my/bookings/{candidate.id}",
        )
        return candidate
    return None


async def _offer_hold(
    session: AsyncSession, facts: OccurrenceFacts, candidate: Booking, *, seat_taken: bool = False
) -> Booking | None:
    """The freed seat, held for the first waitlisted member to pay by card within the
    studio's hold time. If the hold lapses unpaid, the seat goes on down the waitlist
    (booking/holds.py `expire_lapsed`), as any hold's does."""
    if not seat_taken and not await repository.take_seat(session, facts.id):
        return None
    candidate.status = "held"
    candidate.hold_expires_at = _now() + facts.seat_hold
    candidate.promoted_at = _now()
    await repository.change_waitlist(session, facts.id, -1)
    await session.flush()
    until = candidate.hold_expires_at.astimezone(ZoneInfo(facts.timezone))
    await notices.tell(
        session,
        candidate.user_id,
        "waitlist_offer",
        facts,
        dedup_key=f"waitlist_offer:{candidate.id}",
        link=f"/my/bookings/{candidate.id}",
        hold_until=f"{until:%H:%M}",
        price=format_money(facts.price or 0, facts.currency),
    )
    return candidate
