"""The job queue for the platform operator: depth per queue, failed jobs, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel

from studioloop.accounts.dependencies import PlatformOwner
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.jobs import admin

router = APIRouter(prefix=f"{API_PREFIX}/admin/jobs", tags=["operations"])


class QueueOut(BaseModel):
    name: str
    todo: int
    doing: int
    failed: int
    succeeded: int


class FailedJobOut(BaseModel):
    id: int
    queue: str
    task: str
    args: dict[str, Any]
    attempts: int
    scheduled_at: datetime | None


class JobsOut(BaseModel):
    queues: list[QueueOut]
    failed: list[FailedJobOut]


@router.get("", response_model=JobsOut, responses=errors(401, 403))
async def jobs_overview(_owner: PlatformOwner) -> JobsOut:
    """Jobs waiting, running, failed and done per queue, and the latest failed jobs."""
    async with admin.job_manager() as manager:
        queues = await admin.queues(manager)
        failed = await admin.failed_jobs(manager)
    return JobsOut(
        queues=[QueueOut(**vars(queue)) for queue in queues],
        failed=[FailedJobOut(**vars(job)) for job in failed],
    )


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FailedJobOut,
    responses=errors(401, 403, 404),
)
async def retry_job(job_id: int, _owner: PlatformOwner) -> FailedJobOut:
    """Run a failed job again, now (it is safe to: every job is idempotent)."""
    async with admin.job_manager() as manager:
        job = await admin.retry(manager, job_id)
    return FailedJobOut(**vars(job))
