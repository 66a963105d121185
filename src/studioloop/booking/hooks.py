"""Extension points of the booking engine, called inside the causing transaction.

Payments subscribes to give back the money of a class paid for by card when its booking
is cancelled; booking does not import payments. Handlers are registered in one place,
`studioloop.wiring.wire`, not by importing their modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking.models import Booking

# handler(session, booking, refund_due): the booking was just cancelled (by the member, the
# studio, or with its class); `refund_due` is False when the studio's late-cancellation
# policy keeps what was paid.
BookingCancelledHandler = Callable[[AsyncSession, Booking, bool], Awaitable[None]]

_cancelled_handlers: list[BookingCancelledHandler] = []


def on_booking_cancelled(handler: BookingCancelledHandler) -> BookingCancelledHandler:
    """Register a handler; usable as a decorator."""
    if handler not in _cancelled_handlers:
        _cancelled_handlers.append(handler)
    return handler


async def booking_cancelled(session: AsyncSession, booking: Booking, *, refund_due: bool) -> None:
    for handler in list(_cancelled_handlers):
        await handler(session, booking, refund_due)
