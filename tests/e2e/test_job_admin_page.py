"""The operator runs a failed job again from the jobs page, in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sign_in_and_outbox import _operator
from tests.jobs.test_job_admin import failed_job


def test_the_operator_retries_a_failed_job(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _operator(live_server, owner_db)
    job_id = failed_job(owner_db)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server}/admin/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Background jobs")).to_be_visible()
    row = page.locator("#failed").get_by_role("row").filter(has_text="deliver_email")
    expect(row).to_contain_text(str(job_id))
    expect(page.locator("#queues")).to_contain_text("email")
    shot(page, "admin-jobs-desktop")

    row.get_by_role("button", name=f"Retry job {job_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Job {job_id} is queued to run again.")
    expect(page.locator("#no-failures")).to_be_visible()
    shot(page, "admin-jobs-retried")
    assert owner_db.value("SELECT status FROM procrastinate_jobs WHERE id = %s", job_id) == "todo"
