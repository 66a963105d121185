"""Backups: taken while members book, restored into an empty embedded server, equal."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from studioloop.db.backup import create_backup, list_backups, prune
from studioloop.db.embedded import start_embedded_server, stop_embedded_server
from studioloop.db.pg_tools import BackupError
from studioloop.db.restore import restore_backup
from studioloop.db.urls import libpq_conninfo
from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner

MEMBERS = 24
CLASSES = 4


def table_counts(db: Owner) -> dict[str, int]:
    tables = [
        row[0] for row in db.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    return {table: db.value(f'SELECT count(*) FROM "{table}"') for table in sorted(tables)}


def ledger(db: Owner) -> dict[str, Any]:
    """Each account's balance, ledger sum and lots; and the seats each class counts."""
    return {
        "accounts": db.rows(
            "SELECT a.id, a.balance, "
            "(SELECT coalesce(sum(amount), 0) FROM credit_transactions t "
            " WHERE t.account_id = a.id), "
            "(SELECT coalesce(sum(remaining), 0) FROM credit_lots l WHERE l.account_id = a.id) "
            "FROM credit_accounts a ORDER BY a.id"
        ),
        "seats": db.rows(
            "SELECT s.id, s.booked_count, count(b.id) FILTER "
            "(WHERE b.status IN ('confirmed', 'held')) FROM class_schedules s "
            "LEFT JOIN bookings b ON b.class_schedule_id = s.id "
            "GROUP BY s.id, s.booked_count ORDER BY s.id"
        ),
    }


def assert_consistent(db: Owner) -> None:
    books = ledger(db)
    assert books["accounts"], "no credit accounts: nothing was compared"
    for account, balance, ledger_sum, lots in books["accounts"]:
        assert balance == ledger_sum == lots, account
    for occurrence, booked_count, seats_taken in books["seats"]:
        assert booked_count == seats_taken, occurrence


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


@pytest.fixture
def empty_embedded_server(embedded_runtime_dir: None) -> Any:
    """A second embedded PostgreSQL in a new, empty data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="studioloop-restore-"))
    yield start_embedded_server(data_dir)
    stop_embedded_server(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


async def _until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the load never got going"
        await asyncio.sleep(0.05)


async def _book_and_cancel(
    studio: BookingStudio, person: dict[str, Any], classes: list[str], stop: asyncio.Event
) -> list[int]:
    """Book a class, cancel it (credits back), the next one...: writes until told to stop;
    every other booking is kept while credits last."""
    statuses: list[int] = []
    turn = 0
    while not stop.is_set():
        booked = await studio.book(person, classes[turn % len(classes)])
        statuses.append(booked.status_code)
        if booked.status_code == 201 and turn % 2 == 0:
            cancelled = await studio.client.delete(
                f"/api/v1/bookings/{booked.json()['id']}", headers=person["headers"]
            )
            statuses.append(cancelled.status_code)
        turn += 1
    return statuses


async def test_a_backup_under_booking_load_restores_exactly(
    studio: BookingStudio,
    owner_url: str,
    owner_db: Owner,
    database: Any,
    settings: Any,
    empty_embedded_server: str,
    tmp_path: Path,
) -> None:
    classes = [
        (await studio.occurrence(capacity=MEMBERS, hours_ahead=30 + hour))["id"]
        for hour in range(CLASSES)
    ]
    people = await studio.many_members(database, settings, MEMBERS, credits=CLASSES)
    backups = tmp_path / "backups"

    def backup() -> Any:
        # PG_BIN_DIR unset: pg_dump from PATH if it is new enough, else the wheel's.
        return create_backup(owner_url, backups, embedded=False)

    stop = asyncio.Event()
    load = [
        asyncio.create_task(_book_and_cancel(studio, person, classes, stop)) for person in people
    ]
    try:
        await _until(lambda: owner_db.value("SELECT count(*) FROM bookings") >= MEMBERS)
        before = table_counts(owner_db)
        during = await asyncio.to_thread(backup)  # the event loop keeps booking meanwhile
        # ... and books on after it: rows the backup's snapshot cannot have seen.
        done = table_counts(owner_db)
        await _until(
            lambda: all(
                owner_db.value(f"SELECT count(*) FROM {table}") > done[table]
                for table in ("bookings", "credit_transactions")
            )
        )
    finally:
        stop.set()
        statuses = [status for outcome in await asyncio.gather(*load) for status in outcome]
    assert statuses
    assert max(statuses) < 500
    final = table_counts(owner_db)
    assert_consistent(owner_db)
    after = await asyncio.to_thread(backup)  # writes have stopped: an exact copy
    assert table_counts(owner_db) == final  # nothing else wrote meanwhile
    assert [b.path for b in list_backups(backups)] == [during.path, after.path]

    copy = Owner(libpq_conninfo(empty_embedded_server))
    restored = await asyncio.to_thread(
        restore_backup,
        empty_embedded_server,
        during.path,
        app_role=settings.database_app_role,
        embedded=True,
    )
    assert restored.at_head, restored
    # The copy is the database as of one instant while bookings went on: after the rows
    # seen before the backup began, before those written after it, and self-consistent.
    mid = table_counts(copy)
    assert mid.keys() == final.keys()
    for table in ("bookings", "credit_transactions"):
        assert before[table] <= mid[table] < final[table], table
    assert_consistent(copy)

    with pytest.raises(BackupError, match=r"not empty.*--force"):
        restore_backup(
            empty_embedded_server,
            after.path,
            app_role=settings.database_app_role,
            embedded=True,
        )
    assert table_counts(copy) == mid  # the refusal changed nothing

    replaced = await asyncio.to_thread(
        restore_backup,
        empty_embedded_server,
        after.path,
        app_role=settings.database_app_role,
        embedded=True,
        force=True,
    )
    assert replaced.replaced and replaced.at_head
    assert table_counts(copy) == final
    assert ledger(copy) == ledger(owner_db)
    _app_role_as_the_migrations_left_it(copy, empty_embedded_server, settings, studio)


def _app_role_as_the_migrations_left_it(
    copy: Owner, url: str, settings: Any, studio: BookingStudio
) -> None:
    role = settings.database_app_role
    assert copy.rows("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", role) == [
        (False, False)
    ]
    assert copy.value("SELECT has_table_privilege(%s, 'bookings', 'INSERT')", role) is True
    # The append-only audit kept its revoked UPDATE, which a blanket GRANT would restore.
    assert copy.value("SELECT has_table_privilege(%s, 'membership_audit', 'UPDATE')", role) is False
    assert copy.value("SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", role) == 0
    # Tables a later migration creates get the app role's grants by default.
    assert (
        copy.value("SELECT count(*) FROM pg_default_acl WHERE defaclrole = current_user::regrole")
        == 3
    )
    # Row-level security holds in the copy: the app role sees one studio's rows at a time.
    with psycopg.connect(libpq_conninfo(url), options=f"-c role={role}", autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM bookings").fetchone() == (0,)
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (studio.tenant["id"],))
        seen = conn.execute("SELECT count(*) FROM bookings").fetchone()
    assert seen == (copy.value("SELECT count(*) FROM bookings"),)


def test_retention_keeps_the_newest_and_drops_the_old(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    for days_ago in (40, 20, 3, 2, 1):
        stamp = (now - timedelta(days=days_ago)).strftime("%Y%m%dT%H%M%SZ")
        (tmp_path / f"studioloop-{stamp}.dump").write_bytes(b"x")
    (tmp_path / "studioloop-20261207T020000Z-2.dump").write_bytes(b"x")  # same second
    (tmp_path / "notes.txt").write_text("not a backup")  # never touched
    names = [backup.path.name for backup in list_backups(tmp_path)]
    assert names[0] == "studioloop-20261028T030000Z.dump"
    assert names[-1] == "studioloop-20261207T020000Z-2.dump"

    gone = prune(tmp_path, keep=None, keep_days=30, now=now)
    assert [path.name for path in gone] == ["studioloop-20261028T030000Z.dump"]
    gone = prune(tmp_path, keep=2, keep_days=None, now=now, protect=tmp_path / names[1])
    assert {path.name for path in gone} == set(names[2:4])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [names[1], names[4], names[5], "notes.txt"]
    )


CLI = [sys.executable, "-m", "studioloop.cli"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ENVIRONMENT": "test", **env},
        timeout=120,
        check=False,
    )


def test_backup_and_restore_commands(owner_db: Owner, tmp_path: Path) -> None:
    old = tmp_path / "studioloop-20200101T000000Z.dump"
    old.write_bytes(b"an old backup")
    made = _cli("backup", "--dir", str(tmp_path), "--keep", "1")
    assert made.returncode == 0, made.stderr
    [backup] = list_backups(tmp_path)
    assert f"pruned {old}" in made.stdout
    assert f"{backup.path}  " in made.stdout and "KiB" in made.stdout  # path and size
    assert backup.path.stat().st_mode & 0o077 == 0  # personal data: the owner's eyes only

    before = table_counts(owner_db)
    refused = _cli("restore", str(backup.path))  # into the very database it came from
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert table_counts(owner_db) == before

    missing = _cli("restore", str(tmp_path / "nothing.dump"))
    assert missing.returncode == 1 and "no such backup file" in missing.stderr


def test_a_pg_dump_older_than_the_server_is_refused_clearly(owner_url: str, tmp_path: Path) -> None:
    old_tools = tmp_path / "bin"
    old_tools.mkdir()
    fake = old_tools / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    fake.chmod(0o755)
    with pytest.raises(BackupError, match="must be of the server's major version or newer"):
        create_backup(owner_url, tmp_path / "backups", embedded=False, pg_bin_dir=old_tools)
    assert list_backups(tmp_path / "backups") == []
    with pytest.raises(BackupError, match="has no runnable pg_dump"):
        create_backup(owner_url, tmp_path, embedded=False, pg_bin_dir=tmp_path / "none")


def test_a_file_that_is_not_a_backup_is_refused(owner_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "studioloop-20261207T000000Z.dump"
    junk.write_bytes(b"not a backup at all")
    with pytest.raises(BackupError, match="is not a backup this pg_restore"):
        restore_backup(owner_url, junk, app_role="studioloop_app", embedded=False)
