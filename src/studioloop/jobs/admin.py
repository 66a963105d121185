"""Looking after the job queue: how deep each queue is, which jobs failed, retrying one.

Uses procrastinate's own JobManager on a connection of its own (never the shared job app,
whose connector the in-process worker of `studioloop serve` is using).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import procrastinate
from procrastinate.manager import JobManager

from studioloop.core.errors import NotFound
from studioloop.db.engine import get_database
from studioloop.db.urls import libpq_conninfo

STATUSES = ("todo", "doing", "failed", "succeeded", "cancelled", "aborted")


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    message = "No failed job with this id."


@dataclass(frozen=True)
class QueueDepth:
    name: str
    todo: int
    doing: int
    failed: int
    succeeded: int


@dataclass(frozen=True)
class FailedJob:
    id: int
    queue: str
    task: str
    args: dict[str, Any]
    attempts: int
    scheduled_at: datetime | None


@contextlib.asynccontextmanager
async def job_manager(conninfo: str | None = None) -> AsyncIterator[JobManager]:
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo or libpq_conninfo(get_database().owner_url), min_size=1, max_size=1
    )
    await connector.open_async()
    try:
        yield JobManager(connector)
    finally:
        await connector.close_async()


async def queues(manager: JobManager) -> list[QueueDepth]:
    rows = await manager.list_queues_async()
    return sorted(
        (
            QueueDepth(
                name=row["name"],
                todo=row["todo"],
                doing=row["doing"],
                failed=row["failed"],
                succeeded=row["succeeded"],
            )
            for row in rows
        ),
        key=lambda queue: queue.name,
    )


def _failed(job: procrastinate.jobs.Job) -> FailedJob:
    return FailedJob(
        id=job.id or 0,
        queue=job.queue,
        task=job.task_name,
        args=dict(job.task_kwargs),
        attempts=job.attempts,
        scheduled_at=job.scheduled_at,
    )


async def failed_jobs(manager: JobManager, limit: int = 50) -> list[FailedJob]:
    jobs = await manager.list_jobs_async(status="failed")
    newest = sorted(jobs, key=lambda job: job.id or 0, reverse=True)[:limit]
    return [_failed(job) for job in newest]


async def retry(manager: JobManager, job_id: int) -> FailedJob:
    """Put a failed job back in its queue, to run now; the job as it was."""
    found = list(await manager.list_jobs_async(id=job_id, status="failed"))
    if not found:
        raise JobNotFound(details={"job_id": job_id})
    await manager.retry_job_by_id_async(job_id=job_id, retry_at=datetime.now(UTC))
    return _failed(found[0])
