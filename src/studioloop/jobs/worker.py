"""Running a job worker for as long as the process wants one (`studioloop worker`, or inside
`studioloop serve`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import procrastinate

from studioloop import wiring
from studioloop.config import Settings
from studioloop.core.logging import get_logger
from studioloop.jobs import recovery

logger = get_logger(__name__)

# A worker that stopped by itself is started again after this long, doubling up to the
# maximum while it keeps stopping at once (the database still away).
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 10.0
# A worker that ran this long before it stopped starts again after the shortest delay.
HEALTHY_RUN_SECONDS = 60.0


async def run_job_worker(
    jobs: procrastinate.App, settings: Settings, concurrency: int, **options: Any
) -> None:
    """Run a worker until this task is cancelled: wired first (a job's handlers, such as a
    payment's fulfilment, are registered by `wiring.wire`, not by importing the task
    modules), with heartbeats, with the periodic job that runs again the jobs of workers
    that died (jobs/recovery.py), and started again whenever it stops by itself.

    procrastinate stops a worker when one of its side tasks fails, and its listener fails
    when the database restarts: without this, a PostgreSQL restart ended every worker's
    work (`studioloop worker` exited with status 0, which supervisors that restart on
    failure leave alone; `studioloop serve` kept serving with no worker at all). Stopping
    for good is by cancellation (signals, shutdown), so signal handlers are the caller's.
    """
    wiring.wire()
    recovery.schedule(settings)
    stalled_after = settings.job_stalled_after_seconds
    delay = RESTART_DELAY_SECONDS
    while True:
        started = time.monotonic()
        try:
            await jobs.run_worker_async(
                concurrency=concurrency,
                update_heartbeat_interval=stalled_after / 3,
                stalled_worker_timeout=stalled_after,
                install_signal_handlers=False,
                **options,
            )
            reason = "it stopped by itself (its database connection lost?)"
        except procrastinate.exceptions.ProcrastinateException as error:
            reason = f"{type(error).__name__}: {error}".strip()
        if time.monotonic() - started > HEALTHY_RUN_SECONDS:
            delay = RESTART_DELAY_SECONDS
        logger.warning("job worker starting again", reason=reason, in_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
