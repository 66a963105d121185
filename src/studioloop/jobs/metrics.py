"""The job queues as Prometheus metrics, read from procrastinate's tables when scraped.

One statement on the autocommit pool, as the application's role: procrastinate's tables
belong to no studio (no row-level security) and the role may read them, as it defers jobs
into them. The figures are the same whichever process is scraped.
"""

from __future__ import annotations

import importlib
from functools import cache

from prometheus_client.core import GaugeMetricFamily, Metric

from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.jobs.app import TASK_MODULES, job_app

logger = get_logger(__name__)
# A scrape waits this long for a connection, then answers without the queue figures
# (studioloop_metrics_database_up 0) rather than hang while the database is busy or down.
SCRAPE_WAIT_SECONDS = 2.0

# A job waits from when it became due: its scheduled time (a retry's too), else when it was
# deferred. Waiting jobs are few unless the workers fall behind, so the look-up of each one's
# deferral (indexed by job) stays cheap; failed jobs are counted on a partial index.
QUEUE_FIGURES = """
WITH live AS (
    SELECT queue_name, status, scheduled_at, id
      FROM procrastinate_jobs
     WHERE status IN ('todo', 'doing')
), due AS (
    SELECT queue_name,
           coalesce(scheduled_at,
                    (SELECT max(e.at) FROM procrastinate_events e
                      WHERE e.job_id = live.id
                        AND e.type IN ('deferred', 'deferred_for_retry', 'retried'))) AS since
      FROM live
     WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
)
SELECT 'queue' AS kind, queue_name AS name,
       count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL
                                                   OR scheduled_at <= now())) AS waiting,
       count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()) AS scheduled,
       count(*) FILTER (WHERE status = 'doing') AS running,
       (SELECT extract(epoch FROM now() - min(due.since)) FROM due
         WHERE due.queue_name = live.queue_name)::float8 AS oldest
  FROM live GROUP BY queue_name
UNION ALL
SELECT 'failed', task_name, count(*), 0, 0, NULL
  FROM procrastinate_jobs WHERE status = 'failed' GROUP BY task_name
"""


@cache
def _known() -> tuple[set[str], set[str]]:
    """Every queue and task name, so an empty queue reads 0 rather than vanishing."""
    for module in TASK_MODULES:  # an API process may not have imported them all
        importlib.import_module(module)
    tasks = [task for task in job_app.tasks.values() if not task.name.startswith("builtin")]
    return {task.queue for task in tasks}, {task.name for task in tasks}


async def queue_families() -> list[Metric]:
    waiting = GaugeMetricFamily(
        "studioloop_job_queue_waiting",
        "Jobs due to run and not yet picked up by a worker, by queue.",
        labels=["queue"],
    )
    scheduled = GaugeMetricFamily(
        "studioloop_job_queue_scheduled",
        "Jobs scheduled for later (retries waiting out their back-off included), by queue.",
        labels=["queue"],
    )
    running = GaugeMetricFamily(
        "studioloop_job_queue_running", "Jobs a worker is running, by queue.", labels=["queue"]
    )
    oldest = GaugeMetricFamily(
        "studioloop_job_queue_oldest_waiting_seconds",
        "How long the longest-waiting due job of each queue has waited (0 when none waits).",
        labels=["queue"],
    )
    failed = GaugeMetricFamily(
        "studioloop_jobs_failed",
        "Jobs that used up their attempts and wait for an operator, by task.",
        labels=["task"],
    )
    read_ok = 1
    queues, tasks = _known()
    figures: dict[str, tuple[int, int, int, float]] = {}
    failures: dict[str, int] = {}
    try:
        pool = await get_database().autocommit_pool()
        async with pool.connection(timeout=SCRAPE_WAIT_SECONDS) as conn:
            rows = await (await conn.execute(QUEUE_FIGURES)).fetchall()
        for kind, name, count, later, doing, age in rows:
            if kind == "queue":
                figures[name] = (count, later, doing, float(age or 0))
            else:
                failures[name] = count
    except Exception as exc:  # a scrape must answer even when the database does not
        logger.warning("job queue metrics unavailable", error=f"{type(exc).__name__}: {exc}")
        read_ok = 0
    if read_ok:
        for queue in sorted(queues | set(figures)):
            count, later, doing, age = figures.get(queue, (0, 0, 0, 0.0))
            waiting.add_metric([queue], count)
            scheduled.add_metric([queue], later)
            running.add_metric([queue], doing)
            oldest.add_metric([queue], age)
        for task in sorted(tasks | set(failures)):
            failed.add_metric([task], failures.get(task, 0))
    up = GaugeMetricFamily(
        "studioloop_metrics_database_up",
        "1 when this scrape could read the job queue figures from the database, else 0.",
        value=read_ok,
    )
    return [waiting, scheduled, running, oldest, failed, up]
