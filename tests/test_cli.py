"""The `studioloop` command, run as a real subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import httpx

from studioloop import __version__
from tests.conftest import Owner
from tests.fakes.smtp import free_port
from tests.metrics import sample

CLI = [sys.executable, "-m", "studioloop.cli"]


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVIRONMENT": "test"}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=120,
        check=False,
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_lists_every_role() -> None:
    out = run("--help").stdout
    for command in ("serve", "api", "worker", "migrate", "demo", "createsuperuser"):
        assert command in out


def test_refuses_to_start_with_the_default_secret_outside_development() -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": "short"}
    result = subprocess.run(
        [*CLI, "migrate"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_createsuperuser_and_demo(owner_url: str, owner_db: Owner) -> None:
    created = run("createsuperuser", "--email", "Ops@Example.com", "--password", "operator99")
    assert created.returncode == 0, created.stderr
    assert owner_db.rows(
        "SELECT is_platform_owner, email_verified_at IS NOT NULL FROM users "
        "WHERE email = 'ops@example.com'"
    ) == [(True, True)]

    weak = run("createsuperuser", "--email", "x@example.com", "--password", "short")
    assert weak.returncode != 0
    assert "Invalid input" in weak.stderr

    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert "owner@example.com" in demo.stdout
    assert "studioloop1" in demo.stdout
    assert owner_db.value("SELECT count(*) FROM credit_packages") == 6
    again = run("demo")  # loading twice adds nothing twice
    assert again.returncode == 0, again.stderr
    # Loop Yoga and Jozi HIIT: the owner, 5 instructors and 200 members each; Coach
    # Kopano (a creator): the owner and 30 subscribers.
    assert owner_db.value("SELECT count(*) FROM tenants WHERE kind <> 'platform'") == 3
    assert owner_db.value("SELECT count(*) FROM user_tenant_roles") == 2 * 206 + 31
    # The creator's tiers, meters and three weeks of usage, counted once.
    assert owner_db.value("SELECT count(*) FROM usage_meters") == 3
    assert (
        owner_db.value(
            "SELECT count(*) FROM subscriptions WHERE status = 'active' AND plan_id IN "
            "(SELECT id FROM membership_plans WHERE name LIKE 'Coach %%')"
        )
        == 30
    )
    events = owner_db.value("SELECT count(*) FROM usage_events")
    assert events > 1000
    assert (
        owner_db.value(
            "SELECT sum(events) FROM usage_aggregates a JOIN usage_meters m "
            "ON m.id = a.meter_id WHERE m.slug = 'ai-reviews'"
        )
        > 500
    )
    # Loop Yoga's 12 class types, and boxing at Jozi HIIT.
    assert owner_db.value("SELECT count(DISTINCT class_type) FROM classes") == 13
    assert owner_db.value("SELECT count(*) FROM locations") == 4
    # Loop Yoga: 12 classes twice a week for 4 weeks, without a single clash; Jozi HIIT:
    # 4 classes on 8 weekdays in all, for 4 weeks.
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 96 + 32
    assert owner_db.value("SELECT count(*) FROM credit_packages") == 6  # not twice
    assert owner_db.value("SELECT count(*) FROM usage_events") == events  # not twice
    # The first member's universal (marketplace) credits, given once.
    assert (
        owner_db.value(
            "SELECT balance FROM credit_accounts a JOIN users u ON u.id = a.user_id "
            "JOIN tenants t ON t.id = a.tenant_id "
            "WHERE u.email = 'member@example.com' AND t.kind = 'platform'"
        )
        == 6
    )


def test_api_workers_need_an_external_database(tmp_path) -> None:
    env = {**os.environ, "ENVIRONMENT": "test", "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [*CLI, "api", "--workers", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_api_serves_from_several_worker_processes(owner_url: str, owner_db: Owner) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": owner_url, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [*CLI, "api", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        children = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2  # the two workers (and uvicorn's own helper, if any)
        for n in range(4):  # answered by whichever worker accepts the connection
            registered = httpx.post(
                f"{base}/api/v1/auth/register",
                json={
                    "email": f"worker{n}@example.com",
                    "password": "long-enough-1",
                    "first_name": "W",
                    "last_name": "Orker",
                },
                timeout=10,
            )
            assert registered.status_code == 201, registered.text
        assert owner_db.value("SELECT count(*) FROM users WHERE email LIKE 'worker%%'") == 4
        # Whichever process answers the scrape, it counts the requests of all of them.
        for _ in range(4):
            text = httpx.get(f"{base}/metrics", timeout=10).text
            registered_count = sample(
                text,
                "studioloop_http_requests_total",
                method="POST",
                route="/api/v1/auth/register",
                status="201",
            )
            assert registered_count == 4
            assert sample(text, "studioloop_db_pool_size") is not None
            assert sample(text, "studioloop_metrics_database_up") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
