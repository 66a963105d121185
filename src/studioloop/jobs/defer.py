"""Deferring jobs inside the caller's database transaction.

A job is inserted on the very connection of the SQLAlchemy session, so it commits or rolls
back with the business change that caused it: a committed sign-up always gets its email, a
rolled-back one never does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def defer_in_transaction(
    session: AsyncSession,
    task: Any,
    *,
    queueing_lock: str | None = None,
    schedule_at: datetime | None = None,
    **kwargs: Any,
) -> int:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    options: dict[str, Any] = {"connection": raw.driver_connection}
    if queueing_lock is not None:
        options["queueing_lock"] = queueing_lock
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    job_id: int = await task.configure(**options).defer_async(**kwargs)
    return job_id
