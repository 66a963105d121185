"""The procrastinate app: a PostgreSQL-backed job queue with no extra broker to run.

Tasks live next to their domain (`<domain>/tasks.py`) and are found through
`TASK_MODULES`. The database URL is only known at start-up, so a process connects the
app with `connected_job_app(conninfo)` and runs a worker with `jobs.worker`; deferring
inside a request needs no connection of the app's own (see `jobs.defer`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import procrastinate

TASK_MODULES = [
    "studioloop.notifications.tasks",
    "studioloop.scheduling.tasks",
    "studioloop.booking.tasks",
    "studioloop.credits.tasks",
    "studioloop.payments.tasks",
    "studioloop.billing.tasks",
    "studioloop.usage.tasks",
    "studioloop.jobs.recovery",
]

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
