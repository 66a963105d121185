"""The waitlist: joining it, and offering a freed seat to the first eligible member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import entitlements, notices, qr, repository
from studioloop.booking.models import Booking
from studioloop.config import Settings
from studioloop.credits import service as credits
from studioloop.credits.exceptions import InsufficientCredits
from studioloop.scheduling import capacity
from studioloop.scheduling.capacity import OccurrenceFacts

DEFAULT_WAITLIST_CUTOFF_MINUTES = 60


def _now() -> datetime:
    return datetime.now(UTC)


class _NoSeat(Exception):
    """Raised inside the promotion savepoint to undo the debit when the seat is gone."""


def cost_for(facts: OccurrenceFacts, entitlement: entitlements.Entitlement) -> int:
    """Credits this member spends: none with an unlimited membership covering the class."""
    return 0 if entitlement.covers(facts.class_type) else facts.credits_required


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
    await capacity.change_waitlist(session, facts.id, +1)
    return booking


async def promote(
    session: AsyncSession, settings: Settings, facts: OccurrenceFacts
) -> Booking | None:
    """Offer a freed seat to the first eligible waitlisted member, in this transaction."""
    cutoff = facts.tenant_settings.get("waitlist_cutoff_minutes", DEFAULT_WAITLIST_CUTOFF_MINUTES)
    if isinstance(cutoff, int) and _now() > facts.start_time - timedelta(minutes=cutoff):
        return None  # too close to the start: nobody gets a surprise booking
    waiting = list(
        await session.scalars(
            select(Booking)
            .where(Booking.class_schedule_id == facts.id, Booking.status == "waitlisted")
            .order_by(Booking.waitlisted_at)
            .with_for_update(skip_locked=True)
        )
    )
    for candidate in waiting:
        state = await repository.member_state(
            session,
            facts.tenant_id,
            facts.id,
            candidate.user_id,
            facts.start_time,
            facts.end_time,
        )
        if state.clash is not None:
            # Booked into another class at that time since joining: the same rule as
            # booking directly. They stay on the waitlist in case that changes.
            continue
        cost = cost_for(
            facts, await entitlements.entitlement_of(session, facts.tenant_id, candidate.user_id)
        )
        try:
            async with session.begin_nested():
                if cost:
                    await credits.debit(
                        session,
                        facts.tenant_id,
                        candidate.user_id,
                        cost,
                        booking_id=candidate.id,
                        reason=f"Promoted from the waitlist of {facts.class_name}",
                    )
                if not await capacity.take_seat(session, facts.id):
                    raise _NoSeat
        except InsufficientCredits:
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
        candidate.status, candidate.credits_used = "confirmed", cost
        candidate.qr_code, candidate.qr_expires_at = qr.code_for_booking(
            settings, candidate.id, facts.id, facts.tenant_id, facts.end_time
        )
        candidate.promoted_at = _now()
        await capacity.change_waitlist(session, facts.id, -1)
        await session.flush()
        await notices.tell(
            session,
            candidate.user_id,
            "waitlist_promoted",
            facts,
            dedup_key=f"waitlist_promoted:{candidate.id}",
        )
        return candidate
    return None
