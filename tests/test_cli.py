"""The `studioloop` command, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from studioloop import __version__
from tests.conftest import Owner

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
    again = run("demo")  # loading twice adds nothing twice
    assert again.returncode == 0, again.stderr
    # Loop Yoga and Jozi HIIT: the owner, 5 instructors and 200 members each.
    assert owner_db.value("SELECT count(*) FROM tenants") == 2
    assert owner_db.value("SELECT count(*) FROM user_tenant_roles") == 2 * 206
    assert owner_db.value("SELECT count(DISTINCT class_type) FROM classes") == 12
    assert owner_db.value("SELECT count(*) FROM locations") == 3
    # 12 classes, twice a week, for 4 weeks, without a single clash.
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 96
