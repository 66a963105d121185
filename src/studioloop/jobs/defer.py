"""Deferring jobs inside the caller's database transaction.

A job is inserted on the very connection of the SQLAlchemy session, so it commits or rolls
back with the business change that caused it: a committed sign-up always gets its email, a
rolled-back one never does.

A job is named by its task's registered name (a constant in the domain's `job_names.py`),
never by the task function: a task module imports the services that defer it, so a service
importing its task would be an import circle. The job is described by procrastinate itself
(`job_app.configure_task(name, ...).make_new_job`: the task's queue, lock, priority,
arguments) and inserted by procrastinate's own SQL function, `procrastinate_defer_jobs_v1`.
Only the call is ours: procrastinate sends its jobs as an array of composite values, which
psycopg dumps in Python and which is never prepared. That cost about 0.4 ms of CPU a job, a
tenth of a whole booking (every confirmed booking defers its announcement,
docs/benchmarks.md). The same function called with plain parameters, as a prepared
statement, costs a fraction of that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from procrastinate import exceptions as procrastinate_errors
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.jobs.app import job_app

_DEFER_ONE = """
SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW(
    %s::varchar, %s::varchar, %s::integer, %s::text, %s::text, %s::jsonb, %s::timestamptz
)::procrastinate_job_to_defer_v1]))[1] AS id
"""


def _new_job(
    task_name: str,
    queueing_lock: str | None,
    schedule_at: datetime | None,
    kwargs: dict[str, Any],
) -> Any:
    """The job as procrastinate itself describes it (queue, lock, priority, arguments).
    procrastinate imports the task modules (`jobs.app.TASK_MODULES`) the first time, so the
    name is known whatever this process imported; an unknown name raises `TaskNotFound`."""
    options: dict[str, Any] = {}
    if queueing_lock is not None:
        options["queueing_lock"] = queueing_lock
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    return job_app.configure_task(task_name, allow_unknown=False, **options).make_new_job(**kwargs)


def _job_row(job: Any) -> tuple[Any, ...]:
    """The parameters of `_DEFER_ONE`, as procrastinate itself describes the job."""
    return (
        job.queue,
        job.task_name,
        job.priority,
        job.lock,
        job.queueing_lock,
        Jsonb(job.task_kwargs),
        job.scheduled_at,
    )


async def defer_in_transaction(
    session: AsyncSession,
    task_name: str,
    *,
    queueing_lock: str | None = None,
    schedule_at: datetime | None = None,
    **kwargs: Any,
) -> int:
    """Defer the task named `task_name` in the session's transaction; the job's id."""
    job = _new_job(task_name, queueing_lock, schedule_at, kwargs)
    try:
        row = await raw.fetch_one(session, _DEFER_ONE, _job_row(job))
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name == QUEUEING_LOCK_CONSTRAINT:
            raise procrastinate_errors.AlreadyEnqueued(
                f"a job with the queueing lock {job.queueing_lock} is already queued"
            ) from error
        raise
    job_id: int = row.id
    return job_id


async def send_deferred(session: AsyncSession, task_name: str, **kwargs: Any) -> None:
    """Defer the task named `task_name` without a queueing lock in the session's transaction,
    with `raw.send`: in a `raw.pipeline` it travels with the block's other statements. (A
    queueing lock's conflict would surface at the end of the block, not here: use
    `defer_in_transaction` for those.)"""
    job = _new_job(task_name, None, None, kwargs)
    if job.queueing_lock is not None:  # the task's own default
        raise ValueError(f"{job.task_name} has a queueing lock: use defer_in_transaction")
    await raw.send(session, _DEFER_ONE, _job_row(job))
