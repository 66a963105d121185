"""Extension points other domains subscribe to, called inside the causing transaction.

The booking engine registers here to refund and tell booked members when an occurrence is
cancelled; scheduling does not import booking. Handlers are registered in one place,
`studioloop.wiring.wire`, not by importing their modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.scheduling.models import ClassSchedule

OccurrenceCancelledHandler = Callable[[AsyncSession, ClassSchedule, str], Awaitable[None]]
# handler(session, occurrence, previous teacher id): who teaches it changed (the
# instructor, or a substitute set or removed).
TeacherChangedHandler = Callable[[AsyncSession, ClassSchedule, uuid.UUID | None], Awaitable[None]]

_cancel_handlers: list[OccurrenceCancelledHandler] = []
_teacher_handlers: list[TeacherChangedHandler] = []


def on_teacher_changed(handler: TeacherChangedHandler) -> TeacherChangedHandler:
    if handler not in _teacher_handlers:
        _teacher_handlers.append(handler)
    return handler


async def teacher_changed(
    session: AsyncSession, occurrence: ClassSchedule, previous: uuid.UUID | None
) -> None:
    for handler in list(_teacher_handlers):
        await handler(session, occurrence, previous)


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
