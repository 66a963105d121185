"""Extension points other domains subscribe to, called inside the causing transaction.

The booking engine registers here to refund and tell booked members when an occurrence is
cancelled; scheduling does not import booking.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.scheduling.models import ClassSchedule

OccurrenceCancelledHandler = Callable[[AsyncSession, ClassSchedule, str], Awaitable[None]]

_cancel_handlers: list[OccurrenceCancelledHandler] = []


def on_occurrence_cancelled(handler: OccurrenceCancelledHandler) -> OccurrenceCancelledHandler:
    """Register `handler(session, occurrence, reason)`; usable as a decorator."""
    if handler not in _cancel_handlers:
        _cancel_handlers.append(handler)
    return handler


def remove_occurrence_cancelled(handler: OccurrenceCancelledHandler) -> None:
    if handler in _cancel_handlers:
        _cancel_handlers.remove(handler)


async def occurrence_cancelled(
    session: AsyncSession, occurrence: ClassSchedule, reason: str
) -> None:
    for handler in list(_cancel_handlers):
        await handler(session, occurrence, reason)
