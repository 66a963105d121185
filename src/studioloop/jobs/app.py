"""The procrastinate app: a PostgreSQL-backed job queue with no extra broker to run.

Tasks live next to their domain (`<domain>/tasks.py`) and are found through
`TASK_MODULES`. The database URL is only known at start-up, so a process connects the
app with `connected_job_app(conninfo)`; deferring inside a request needs no connection of
the app's own (see `jobs.defer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import procrastinate

from studioloop.core.logging import get_logger

if TYPE_CHECKING:
    from studioloop.config import Settings

TASK_MODULES = [
    "studioloop.notifications.tasks",
    "studioloop.scheduling.tasks",
    "studioloop.booking.tasks",
    "studioloop.credits.tasks",
    "studioloop.payments.tasks",
    "studioloop.billing.tasks",
    "studioloop.jobs.recovery",
]

logger = get_logger(__name__)

job_app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)

# Retries back off exponentially: 2 s, 4 s, 8 s, ... up to max_attempts.
MAX_ATTEMPTS = 6
DEFAULT_RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2)


@contextlib.asynccontextmanager
async def connected_job_app(conninfo: str, max_size: int = 5) -> AsyncIterator[procrastinate.App]:
    """The job app with a connection pool to `conninfo`, for the length of the block."""
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=max_size)
    with job_app.replace_connector(connector):
        async with job_app.open_async():
            yield job_app


# A worker that stopped by itself is started again after this long, doubling up to the
# maximum while it keeps stopping at once (the database still away).
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 10.0
# A worker that ran this long before it stopped starts again after the shortest delay.
HEALTHY_RUN_SECONDS = 60.0


async def run_job_worker(
    jobs: procrastinate.App, settings: Settings, concurrency: int, **options: Any
) -> None:
    """Run a worker until this task is cancelled: with heartbeats, with the periodic job
    that runs again the jobs of workers that died (jobs/recovery.py), and started again
    whenever it stops by itself.

    procrastinate stops a worker when one of its side tasks fails, and its listener fails
    when the database restarts: without this, a PostgreSQL restart ended every worker's
    work (`studioloop worker` exited with status 0, which supervisors that restart on
    failure leave alone; `studioloop serve` kept serving with no worker at all). Stopping
    for good is by cancellation (signals, shutdown), so signal handlers are the caller's.
    """
    from studioloop.jobs import recovery

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
