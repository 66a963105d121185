"""`studioloop backup`: a pg_dump archive with a UTC timestamp in its name, and retention.

pg_dump reads every table in one repeatable-read transaction: the archive is the database
as of the moment it started (one snapshot), however much the product writes meanwhile. It
takes only ACCESS SHARE locks, so bookings and payments go on; a migration (which needs
ACCESS EXCLUSIVE) waits for it to finish. Custom format (-Fc): compressed, and pg_restore
can pick from it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studioloop.db.pg_tools import (
    BackupError,
    Connection,
    PgTools,
    choose_tools,
    run_tool,
    server_major,
)

PREFIX = "studioloop-"
SUFFIX = ".dump"
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^studioloop-(\d{8}T\d{6}Z)(?:-(\d+))?\.dump$")


@dataclass(frozen=True)
class BackupFile:
    path: Path
    taken_at: datetime
    sequence: int  # two backups in the same second: -2, -3, ...

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return self.taken_at, self.sequence


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    tools: PgTools
    server_major: int
    pruned: list[Path] = field(default_factory=list)


def list_backups(directory: Path) -> list[BackupFile]:
    """This directory's backups, oldest first (files not named by `backup` are ignored)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            taken_at = datetime.strptime(match.group(1), _STAMP_FORMAT).replace(tzinfo=UTC)
            found.append(BackupFile(path, taken_at, int(match.group(2) or 1)))
    return sorted(found, key=lambda backup: backup.sort_key)


def _new_backup_path(directory: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime(_STAMP_FORMAT)
    path = directory / f"{PREFIX}{stamp}{SUFFIX}"
    sequence = 1
    while path.exists():
        sequence += 1
        path = directory / f"{PREFIX}{stamp}-{sequence}{SUFFIX}"
    return path


def create_backup(
    owner_url: str,
    directory: Path,
    *,
    embedded: bool,
    pg_bin_dir: Path | None = None,
    keep: int | None = None,
    keep_days: int | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Dump the database into `directory`, then prune older backups (`keep` newest ones,
    none older than `keep_days`); the new one is never pruned."""
    if keep is not None and keep < 1:
        raise BackupError("--keep must be at least 1 (the backup just taken)")
    connection = Connection.from_sqlalchemy_url(owner_url)
    server = server_major(connection)
    tools = choose_tools("pg_dump", server, embedded=embedded, pg_bin_dir=pg_bin_dir)
    directory = directory.expanduser()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = now or datetime.now(UTC)
    path = _new_backup_path(directory, now)
    # Written under another name and renamed when complete, so an interrupted backup is
    # never mistaken for one (nor counted by retention). Created 0600 first: the archive
    # holds password hashes and personal data, and pg_dump keeps the mode it finds.
    partial = path.with_name(path.name + ".partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        run_tool(
            tools,
            "pg_dump",
            ["--format=custom", f"--file={partial}", f"--dbname={connection.url}"],
            connection,
        )
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    pruned = prune(directory, keep=keep, keep_days=keep_days, now=now, protect=path)
    return BackupResult(path, path.stat().st_size, tools, server, pruned)


def prune(
    directory: Path,
    *,
    keep: int | None,
    keep_days: int | None,
    now: datetime,
    protect: Path | None = None,
) -> list[Path]:
    """Delete backups beyond the newest `keep` and those older than `keep_days`."""
    backups = list_backups(directory)
    doomed: list[Path] = []
    if keep is not None:
        doomed += [backup.path for backup in backups[: max(len(backups) - keep, 0)]]
    if keep_days is not None:
        cutoff = now - timedelta(days=keep_days)
        doomed += [backup.path for backup in backups if backup.taken_at < cutoff]
    removed = []
    for path in dict.fromkeys(doomed):
        if path != protect:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def human_size(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")
