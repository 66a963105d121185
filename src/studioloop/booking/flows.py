"""Book, else hold the seat and check out: the one way every booking surface finishes.

A booking (direct, from the studio's class page, or through the marketplace, by API or
web page) ends one of two ways: the member has a place (or a waitlist spot), or their
seat is held while they pay by card. The second needs a checkout opened (or the open one
found again, for a retry); the API then answers 402 with it and a web page sends the
member to it. That finishing happens here, once, for every surface.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import service
from studioloop.booking.holds import SeatHold
from studioloop.booking.schemas import BookingOut
from studioloop.config import Settings
from studioloop.payments import public as payments_public

Booked = TypeVar("Booked", bound=BookingOut)

SEAT_HELD_MESSAGE = "Pay for this class to confirm your place; your seat is held until then."


@dataclass(frozen=True)
class Checkout:
    """A held seat and the payment that confirms it."""

    hold: SeatHold
    payment_id: uuid.UUID
    checkout_url: str | None

    def details(self) -> dict[str, Any]:
        """What the API's 402 PAYMENT_REQUIRED carries."""
        return {
            **self.hold.details(),
            "payment_id": str(self.payment_id),
            "checkout_url": self.checkout_url,
        }


async def finish(
    session: AsyncSession, settings: Settings, base_url: str, outcome: Booked | SeatHold
) -> Booked | Checkout:
    """A booking as it is, or the checkout for a held seat. `base_url` is where the
    payment provider sends the member back to."""
    if not isinstance(outcome, SeatHold):
        return outcome
    payment = await payments_public.checkout_for_hold(session, settings, outcome, base_url)
    return Checkout(outcome, payment.id, payment.checkout_url)


async def book_at_studio(
    session: AsyncSession,
    settings: Settings,
    base_url: str,
    user_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    *,
    join_waitlist: bool,
    credits_to_use: int | None = None,
    find_studio: bool = False,
) -> BookingOut | Checkout:
    """Book at the studio (`service.book`), then finish: the API and the class page."""
    outcome = await service.book(
        session,
        settings,
        user_id,
        occurrence_id,
        join_waitlist=join_waitlist,
        credits_to_use=credits_to_use,
        find_studio=find_studio,
    )
    return await finish(session, settings, base_url, outcome)
