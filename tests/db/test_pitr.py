"""Point-in-time recovery of the embedded database: WAL archiving, a base backup, and
recovery to a moment between two commits."""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from studioloop.db.embedded import start_embedded_server, stop_embedded_server
from studioloop.db.pg_tools import BackupError
from studioloop.db.pitr import (
    create_base_backup,
    list_base_backups,
    prune_base_backups,
    recover,
)
from studioloop.db.urls import libpq_conninfo
from tests.conftest import Owner


@pytest.fixture
def scratch(embedded_runtime_dir: None) -> Iterator[Path]:
    """A directory for two embedded servers, their backups and WAL archive."""
    directory = Path(tempfile.mkdtemp(prefix="studioloop-pitr-"))
    yield directory
    for data_dir in ("source", "recovered"):
        stop_embedded_server(directory / data_dir)
    shutil.rmtree(directory, ignore_errors=True)


def test_recovery_to_a_point_in_time(scratch: Path) -> None:
    wal, backups = scratch / "wal", scratch / "backups"
    url = start_embedded_server(scratch / "source", wal_archive_dir=wal, wal_archive_timeout=60)
    source = Owner(libpq_conninfo(url))
    assert source.rows(
        "SELECT name, setting FROM pg_settings "
        "WHERE name IN ('archive_mode', 'archive_timeout') ORDER BY name"
    ) == [("archive_mode", "on"), ("archive_timeout", "60")]
    source.rows("CREATE TABLE notes (body text)")
    source.rows("INSERT INTO notes VALUES ('before the base backup')")
    base = create_base_backup(url, backups, embedded=True, keep=1, wal_archive_dir=wal)
    assert list_base_backups(backups) == [base.path]
    source.rows("INSERT INTO notes VALUES ('wanted')")
    target = source.value("SELECT clock_timestamp()")
    source.rows("INSERT INTO notes VALUES ('the mistake')")
    segment = source.value("SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 20
    while not (wal / segment).exists():
        assert time.monotonic() < deadline, "the segment was never archived"
        time.sleep(0.1)
    stop_embedded_server(scratch / "source")

    recover(base.path, wal, scratch / "recovered", target_time=target)
    # The source's socket lock (its PID, perhaps another process's by now) is not kept.
    assert not list((scratch / "recovered" / "pg").glob(".s.PGSQL.*.lock"))
    with pytest.raises(BackupError, match="not empty"):
        recover(base.path, wal, scratch / "recovered", target_time=target)
    copy = Owner(libpq_conninfo(start_embedded_server(scratch / "recovered")))
    assert [row[0] for row in copy.rows("SELECT body FROM notes")] == [
        "before the base backup",
        "wanted",
    ]
    copy.rows("INSERT INTO notes VALUES ('after the recovery')")  # promoted: writable
    assert copy.value("SHOW archive_mode") == "off"  # WAL_ARCHIVE_DIR unset here


def _fake_base(directory: Path, stamp: str, first_segment: str) -> None:
    base = directory / f"studioloop-base-{stamp}"
    base.mkdir(parents=True)
    label = f"START WAL LOCATION: 0/3000028 (file {first_segment})\n".encode()
    info = tarfile.TarInfo("backup_label")
    info.size = len(label)
    with tarfile.open(base / "base.tar.gz", "w:gz") as archive:
        archive.addfile(info, io.BytesIO(label))


def test_pruning_base_backups_forgets_the_wal_only_they_needed(tmp_path: Path) -> None:
    backups, wal = tmp_path / "backups", tmp_path / "wal"
    wal.mkdir()
    segments = [f"0000000100000000000000{n:02X}" for n in range(1, 7)]
    for segment in segments:
        (wal / segment).write_bytes(b"")
    _fake_base(backups, "20261201T000000Z", segments[0])
    _fake_base(backups, "20261203T000000Z", segments[2])
    _fake_base(backups, "20261205T000000Z", segments[4])
    now = datetime(2026, 12, 6, tzinfo=UTC)

    pruned = prune_base_backups(backups, keep=None, keep_days=30, now=now, wal_archive_dir=wal)
    assert pruned == []  # nothing old enough: the archive is left alone
    assert len(list(wal.iterdir())) == 6
    pruned = prune_base_backups(backups, keep=2, keep_days=None, now=now, wal_archive_dir=wal)
    assert [path.name for path in pruned] == ["studioloop-base-20261201T000000Z"]
    assert sorted(path.name for path in wal.iterdir()) == segments[2:]
    pruned = prune_base_backups(backups, keep=None, keep_days=2, now=now, wal_archive_dir=wal)
    assert [path.name for path in pruned] == ["studioloop-base-20261203T000000Z"]
    assert sorted(path.name for path in wal.iterdir()) == segments[4:]
