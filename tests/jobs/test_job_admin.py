"""The operator sees the queues and failed jobs and runs one again: API and CLI."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api, Owner, assert_error
from tests.test_cli import run


def failed_job(owner_db: Owner, task: str = "deliver_email", queue: str = "email") -> int:
    """A job that used up its attempts, as procrastinate leaves one."""
    args = json.dumps({"email_id": "00000000-0000-0000-0000-000000000000"})
    job_id: int = owner_db.value(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts) "
        "VALUES (%s, %s, %s::jsonb, 'failed', 6) RETURNING id",
        queue,
        task,
        args,
    )
    return job_id


async def _operator(api: Api, owner_db: Owner) -> dict[str, Any]:
    person = await api.signup(first_name="Ops")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE id = %s", person["user"]["id"])
    return person


async def test_the_operator_sees_failures_and_retries_one(
    api: Api, client, owner_db: Owner
) -> None:
    job_id = failed_job(owner_db)
    operator = await _operator(api, owner_db)
    member = await api.signup(first_name="Member")
    assert_error(
        await client.get("/api/v1/admin/jobs", headers=member["headers"]), 403, "FORBIDDEN"
    )
    assert_error(await client.get("/api/v1/admin/jobs"), 401, "UNAUTHORIZED")

    overview = await client.get("/api/v1/admin/jobs", headers=operator["headers"])
    assert overview.status_code == 200, overview.text
    email = next(q for q in overview.json()["queues"] if q["name"] == "email")
    assert email["failed"] == 1
    (job,) = overview.json()["failed"]
    assert (job["id"], job["task"], job["attempts"]) == (job_id, "deliver_email", 6)

    retried = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=operator["headers"])
    assert retried.status_code == 202, retried.text
    assert owner_db.value("SELECT status FROM procrastinate_jobs WHERE id = %s", job_id) == "todo"
    again = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=operator["headers"])
    assert_error(again, 404, "JOB_NOT_FOUND")
    assert (await client.get("/api/v1/admin/jobs", headers=operator["headers"])).json()[
        "failed"
    ] == []


def test_the_cli_shows_the_queue_and_retries(owner_url: str, owner_db: Owner) -> None:
    job_id = failed_job(owner_db, task="process_webhook_event", queue="payments")
    status = run("jobs", "status")
    assert status.returncode == 0, status.stderr
    assert "payments" in status.stdout and "process_webhook_event" in status.stdout
    retried = run("jobs", "retry", str(job_id))
    assert retried.returncode == 0, retried.stderr
    assert f"job {job_id} (process_webhook_event) queued to run again" in retried.stdout
    assert owner_db.value("SELECT status FROM procrastinate_jobs WHERE id = %s", job_id) == "todo"
    missing = run("jobs", "retry", str(job_id))
    assert missing.returncode != 0 and "No failed job" in missing.stderr
    assert "no failed jobs" in run("jobs", "status").stdout
