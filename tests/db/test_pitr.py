"""Point-in-time recovery of the embedded database: WAL archiving, a base backup, and
recovery to a moment between two commits."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studioloop.db.embedded import start_embedded_server, stop_embedded_server
from studioloop.db.pg_tools import BackupError
from studioloop.db.pitr import create_base_backup, list_base_backups, recover
from studioloop.db.urls import libpq_conninfo
from tests.conftest import Owner


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory for two embedded servers, their backups and WAL archive."""
    directory = Path(tempfile.mkdtemp(prefix="studioloop-pitr-"))
    if "XDG_RUNTIME_DIR" not in os.environ:  # start_embedded_server would set it for good
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory / "run"))
    yield directory
    for data_dir in ("source", "recovered"):
        stop_embedded_server(directory / data_dir)
    shutil.rmtree(directory, ignore_errors=True)


def test_recovery_to_a_point_in_time(scratch: Path) -> None:
    wal, backups = scratch / "wal", scratch / "backups"
    source = Owner(libpq_conninfo(start_embedded_server(scratch / "source", wal_archive_dir=wal)))
    assert source.value("SHOW archive_mode") == "on"
    source.rows("CREATE TABLE notes (body text)")
    source.rows("INSERT INTO notes VALUES ('before the base backup')")
    url = start_embedded_server(scratch / "source", wal_archive_dir=wal)
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
    with pytest.raises(BackupError, match="not empty"):
        recover(base.path, wal, scratch / "recovered", target_time=target)
    copy = Owner(libpq_conninfo(start_embedded_server(scratch / "recovered")))
    assert [row[0] for row in copy.rows("SELECT body FROM notes")] == [
        "before the base backup",
        "wanted",
    ]
    copy.rows("INSERT INTO notes VALUES ('after the recovery')")  # promoted: writable
    assert copy.value("SHOW archive_mode") == "off"  # WAL_ARCHIVE_DIR unset here
