"""/metrics: the database pools read when scraped, and the job queues as the database has
them (depth, age of the oldest waiting job, failed jobs by task)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time

import httpx

from studioloop.config import Settings
from studioloop.db.engine import Database, WaitCountingPool, create_database, set_database
from studioloop.jobs.app import MAX_ATTEMPTS
from studioloop.notifications.tasks import deliver_notification
from tests.conftest import Owner
from tests.fakes.smtp import free_port
from tests.metrics import sample, scrape
from tests.payments.conftest import RunJobs, run_jobs

__all__ = ["run_jobs"]


async def test_pool_figures_are_read_when_scraped(
    client, database: Database, settings: Settings, owner_url: str
) -> None:
    assert isinstance(database.engine.pool, WaitCountingPool)
    text = await scrape(client)
    assert sample(text, "studioloop_db_pool_size") == settings.database_pool_size
    in_use = sample(text, "studioloop_db_pool_connections", state="in_use")
    assert in_use is not None

    # A pool of one: one connection held, a second caller waiting for it.
    small = create_database(
        settings.model_copy(update={"database_pool_size": 1}), owner_url=owner_url
    )
    set_database(small)
    try:
        async with small.engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            waiter = asyncio.create_task(_query(small))
            await asyncio.sleep(0.2)
            text = await scrape(client)
            assert sample(text, "studioloop_db_pool_size") == 1
            assert sample(text, "studioloop_db_pool_connections", state="in_use") == 1
            assert sample(text, "studioloop_db_pool_connections", state="idle") == 0
            assert sample(text, "studioloop_db_pool_waiting") == 1
            assert sample(text, "studioloop_db_pool_overflow") == 0
        await waiter
        text = await scrape(client)
        assert sample(text, "studioloop_db_pool_waiting") == 0
        assert sample(text, "studioloop_db_pool_connections", state="in_use") == 0
        # The queue figures were read on the autocommit pool, now open and idle.
        idle = sample(text, "studioloop_db_autocommit_pool_connections", state="idle")
        assert idle is not None and idle >= 1
        assert sample(text, "studioloop_db_autocommit_pool_connections", state="in_use") == 0
        assert sample(text, "studioloop_db_autocommit_pool_waiting") == 0
    finally:
        set_database(database)
        await small.dispose()


async def _query(database: Database) -> None:
    async with database.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")


async def test_queue_depth_age_and_failed_jobs_by_task(
    client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    text = await scrape(client)
    assert sample(text, "studioloop_metrics_database_up") == 1
    # Every queue and task is listed, at 0, before anything happened.
    assert sample(text, "studioloop_job_queue_waiting", queue="payments") == 0
    assert sample(text, "studioloop_jobs_failed", task="process_webhook_event") == 0

    # A job that cannot succeed, run by the real worker until it has used its attempts.
    job_id = await deliver_notification.defer_async(notification_id="not-a-notification")
    # Deferred two minutes ago, as the worker would find it after a busy spell.
    owner_db.rows(
        "UPDATE procrastinate_events SET at = now() - interval '120 seconds' WHERE job_id = %s",
        job_id,
    )
    text = await scrape(client)
    assert sample(text, "studioloop_job_queue_waiting", queue="notifications") == 1
    age = sample(text, "studioloop_job_queue_oldest_waiting_seconds", queue="notifications")
    assert age is not None and 120 <= age < 150
    assert sample(text, "studioloop_job_queue_oldest_waiting_seconds", queue="payments") == 0

    await run_jobs()
    text = await scrape(client)
    assert sample(text, "studioloop_job_queue_waiting", queue="notifications") == 0
    assert sample(text, "studioloop_job_queue_scheduled", queue="notifications") == 1
    for _ in range(MAX_ATTEMPTS - 1):  # the back-off, without waiting it out
        owner_db.rows("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", job_id)
        await run_jobs()
    # procrastinate counts retries: the first run and MAX_ATTEMPTS more, then it fails.
    assert owner_db.value("SELECT status FROM procrastinate_jobs WHERE id = %s", job_id) == "todo"
    owner_db.rows("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", job_id)
    await run_jobs()
    assert owner_db.value("SELECT status FROM procrastinate_jobs WHERE id = %s", job_id) == (
        "failed"
    )
    text = await scrape(client)
    assert sample(text, "studioloop_jobs_failed", task="deliver_notification") == 1
    assert sample(text, "studioloop_job_queue_scheduled", queue="notifications") == 0
    assert sample(text, "studioloop_job_queue_oldest_waiting_seconds", queue="notifications") == 0


def test_a_worker_serves_its_own_metrics(owner_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": owner_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "studioloop.cli", "worker", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "studioloop_db_pool_size" not in text:
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            time.sleep(0.2)
        assert sample(text, "studioloop_db_pool_size") is not None
        assert "# TYPE studioloop_payments_total counter" in text
        assert "# TYPE studioloop_notification_failures_total counter" in text
        # The queue figures come from the API's /metrics (the same on every process).
        assert "studioloop_job_queue_waiting" not in text
    finally:
        worker.terminate()
        worker.wait(timeout=30)
