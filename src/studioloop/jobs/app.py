"""The procrastinate app: a PostgreSQL-backed job queue with no extra broker to run.

Tasks live next to their domain (`<domain>/tasks.py`) and are found through
`TASK_MODULES`. The connection pool is supplied when a process opens the app
(`open_job_app`), because the database URL is only known at start-up.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool

TASK_MODULES = [
    "studioloop.notifications.tasks",
]

job_app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)

# Retries back off exponentially: 2 s, 4 s, 8 s, ... up to max_attempts.
DEFAULT_RETRY = procrastinate.RetryStrategy(max_attempts=6, exponential_wait=2)


def job_pool(conninfo: str, max_size: int = 5) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(conninfo, min_size=1, max_size=max_size, open=False)


async def open_job_app(conninfo: str) -> AsyncConnectionPool[Any]:
    pool = job_pool(conninfo)
    await pool.open(wait=True)
    await job_app.open_async(pool)
    return pool


async def close_job_app(pool: AsyncConnectionPool[Any]) -> None:
    await job_app.close_async()
    await pool.close()
