"""`kill -9` of a `studioloop worker` in the middle of a job.

The job: a real one, the verification email of a sign-up, sent over SMTP to a local server
that keeps the first delivery waiting after `MAIL FROM`, so the worker is killed while it
holds the notification row and talks to the server. A new worker starts; procrastinate's
stalled-job mechanism (the dead worker's heartbeat stops; `retry_stalled_jobs` puts its job
back, jobs/recovery.py) runs the job again, and the email arrives exactly once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Owner
from tests.fakes.smtp import FakeSmtpServer
from tests.faults.processes import tail, worker_process

# Each starts processes of its own and times what they do: under pytest-xdist they run on
# one worker, one after another, never two at once.
pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

STALLED_AFTER = 3  # JOB_STALLED_AFTER_SECONDS for the workers: heartbeats every second
EMAIL = "naledi@example.com"


class HoldFirstMail:
    """Makes a FakeSmtpServer keep its first `MAIL FROM` waiting (at most a minute)."""

    def __init__(self) -> None:
        self.held = threading.Event()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.held.is_set():
            self.held.set()
            await asyncio.sleep(60)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


async def test_a_killed_workers_job_runs_again_exactly_once(
    client: Any, owner_db: Owner, owner_url: str, tmp_path: Path
) -> None:
    hold = HoldFirstMail()
    with FakeSmtpServer() as smtp:
        smtp.collector.handle_MAIL = hold.handle_MAIL  # type: ignore[attr-defined]
        env = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp.port,
            "SMTP_STARTTLS": "false",
            "JOB_STALLED_AFTER_SECONDS": STALLED_AFTER,
            "WORKER_CONCURRENCY": 2,
        }
        first = worker_process(owner_url, tmp_path, "worker-1", **env)
        try:
            registered = await client.post(
                "/api/v1/auth/register",
                json={"email": EMAIL, "password": "secret123", "first_name": "Naledi"}
                | {"last_name": "Dlamini"},
            )
            assert registered.status_code == 201, registered.text
            held = await asyncio.to_thread(hold.held.wait, 60)
            assert held, f"the worker never reached the SMTP server:\n{tail(first.log)}"
            job_id, status = owner_db.rows(
                "SELECT id, status FROM procrastinate_jobs "
                "WHERE task_name IN ('deliver_notification', 'deliver_email')"
            )[0]
            assert status == "doing"
            first.kill()
        finally:
            first.stop()

        second = worker_process(owner_url, tmp_path, "worker-2", **env)
        try:
            await asyncio.to_thread(
                _wait_for,
                lambda: owner_db.value("SELECT status FROM notifications") == "sent",
                60,
                "the email sent by the second worker",
            )
            # Some more rounds of the stalled-job check: nothing runs a second time.
            await asyncio.sleep(STALLED_AFTER)
        except BaseException:
            print(tail(second.log))
            raise
        finally:
            second.stop()
        messages = [m for m in smtp.messages if m["To"] == EMAIL]

    assert len(messages) == 1
    assert owner_db.latest_code(EMAIL) in str(messages[0]["Subject"])
    # One notification, sent at its first counted attempt (the killed one rolled back).
    assert owner_db.rows("SELECT status, attempts FROM notifications") == [("sent", 1)]
    # The job: started, put back once by the stalled-job check, started again, succeeded
    # (procrastinate counts both attempts).
    assert owner_db.rows(
        "SELECT status, attempts FROM procrastinate_jobs WHERE id = %s", job_id
    ) == [("succeeded", 2)]
    events = owner_db.rows(
        "SELECT type::text, count(*) FROM procrastinate_events WHERE job_id = %s "
        "AND type IN ('started', 'deferred_for_retry', 'succeeded', 'failed') GROUP BY type",
        job_id,
    )
    assert dict(events) == {"started": 2, "deferred_for_retry": 1, "succeeded": 1}
    assert "job of a dead worker queued again" in (tmp_path / "worker-2.log").read_text()
    assert owner_db.value(
        "SELECT count(*) FROM procrastinate_jobs "
        "WHERE task_name = 'retry_stalled_jobs' AND status = 'succeeded'"
    )
