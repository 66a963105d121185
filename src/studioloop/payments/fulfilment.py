"""What a payment was for, applied when its outcome is known: a registry, purpose -> handlers.

Payments knows that a payment succeeded, was declined or abandoned, or was refunded in
full; what that means (credits granted, a booking confirmed, a membership extended) is the
business of the domain that asked for the payment, and most of those domains import
payments. Each registers its handlers for its purpose here, all of them in one place
(`studioloop.wiring.wire`, at start-up), so payments never imports them. A purpose without
handlers is an error, not a payment silently left unfulfilled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.payments.models import PAYMENT_PURPOSES, Payment

# handler(session, settings, payment), in the transaction that changed the payment's status
# (its row locked).
Handler = Callable[[AsyncSession, Settings, Payment], Awaitable[None]]


@dataclass(frozen=True)
class Handlers:
    # What the member paid for: runs once, on the transition into `succeeded`.
    succeeded: Handler
    # Declined or abandoned (`failed`, `canceled`): what was held for it is let go.
    closed: Handler | None = None
    # All the money back (`refunded`), after the refund is recorded.
    refunded: Handler | None = None


_handlers: dict[str, Handlers] = {}


def register(
    purpose: str,
    *,
    succeeded: Handler,
    closed: Handler | None = None,
    refunded: Handler | None = None,
) -> None:
    """The handlers of payments made for `purpose`; registering again replaces them, so
    wiring twice is harmless."""
    if purpose not in PAYMENT_PURPOSES:
        raise ValueError(f"unknown payment purpose {purpose!r}")
    _handlers[purpose] = Handlers(succeeded, closed, refunded)


def registered() -> dict[str, Handlers]:
    return dict(_handlers)


def _of(payment: Payment) -> Handlers:
    try:
        return _handlers[payment.purpose]
    except KeyError:
        raise RuntimeError(
            f"no fulfilment registered for payments of purpose {payment.purpose!r} "
            "(studioloop.wiring.wire() not called in this process?)"
        ) from None


async def succeeded(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    await _of(payment).succeeded(session, settings, payment)


async def closed(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    handler = _of(payment).closed
    if handler is not None:
        await handler(session, settings, payment)


async def refunded(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    handler = _of(payment).refunded
    if handler is not None:
        await handler(session, settings, payment)
