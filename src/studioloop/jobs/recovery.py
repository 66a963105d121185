"""Jobs whose worker died (SIGKILL, the OOM killer, a lost machine) run again.

procrastinate's own mechanism: every worker registers in `procrastinate_workers` and writes
a heartbeat there every third of JOB_STALLED_AFTER_SECONDS. A job still `doing` under a
worker whose heartbeat is older than JOB_STALLED_AFTER_SECONDS, or whose row is gone (a
starting worker prunes such workers), is stalled: `JobManager.get_stalled_jobs` lists it and
`retry_job` puts it back to `todo` (one more attempt) for any worker to take. The periodic
job below does that every half of JOB_STALLED_AFTER_SECONDS, so a dead worker's jobs run
again 1 to 1.5 times that after its last heartbeat (30-45 s by default).

A job is only ever retried while it is `doing` under a silent worker, so a job that
finished is never run again. A worker that is alive but cannot write its heartbeat for
longer than that (its database unreachable, say) has its jobs run a second time: every job
here is safe to run twice (docs/operations.md, "Jobs").

Two runs of this job at once could both list a job and retry it twice, the second time
taking it back from the worker that had just picked it up; a transaction-level advisory
lock lets one run at a time. (Not procrastinate's `lock`: a worker killed while running
this job would keep that lock `doing`, and nothing would recover it.)
"""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext
from sqlalchemy import text

from studioloop.config import Settings, get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.jobs.app import job_app

logger = get_logger(__name__)

TASK_NAME = "retry_stalled_jobs"
# Any constant unique to this job among the product's advisory locks (none other so far).
ADVISORY_LOCK_KEY = 0x5740_6C1D


@job_app.task(name=TASK_NAME, queue="maintenance", queueing_lock=TASK_NAME, pass_context=True)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Put the stalled jobs back in their queue; how many there were."""
    seconds = get_settings().job_stalled_after_seconds
    manager = context.app.job_manager
    async with get_database().sessionmaker() as session:
        locked = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        if not locked:
            return 0  # another run is at it
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds))
        for job in stalled:
            logger.warning(
                "job of a dead worker queued again",
                job_id=job.id,
                task=job.task_name,
                queue=job.queue,
                attempts=job.attempts,
                worker_id=job.worker_id,
            )
            await manager.retry_job(job)
        await session.commit()
    return len(stalled)


def cron_every(seconds: int) -> str:
    """A procrastinate cron (a sixth field is seconds) firing every `seconds` (whole
    minutes from a minute up)."""
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    return f"*/{min(59, seconds // 60)} * * * *"


def schedule(settings: Settings) -> None:
    """Run `retry_stalled_jobs` periodically in this process's workers, every half of
    JOB_STALLED_AFTER_SECONDS. Registered when a worker starts rather than at import:
    the cadence is a setting, and the tests' one-shot job runs must not get extra jobs."""
    cron = cron_every(settings.job_stalled_after_seconds // 2)
    registry: Any = job_app.periodic_registry
    registry.periodic_tasks.pop((TASK_NAME, TASK_NAME), None)
    registry.register_task(
        task=retry_stalled_jobs, cron=cron, periodic_id=TASK_NAME, configure_kwargs={}
    )
