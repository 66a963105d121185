"""What a multi-process installation on one machine is made of, for the tests: several
`studioloop api` processes and a `studioloop worker` on the test database, a private
Redis, and a round-robin load balancer in front of the api processes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

import httpx
import redis

from tests.fakes.smtp import free_port

REDIS_SERVER = shutil.which("redis-server")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free loopback port, nothing persisted: its URL."""
    if REDIS_SERVER is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# Imports what the command needs (the slow part of starting: seconds on a busy machine),
# then waits for a line on stdin before running it.
_HELD = (
    "import sys, studioloop.app, studioloop.cli; sys.stdin.readline(); "
    "studioloop.cli.main(sys.argv[1:])"
)


class StudioLoopProcess:
    """One `studioloop` command in its own process; its log kept in a file (a pipe nobody
    reads would fill up and stall a long-lived process).

    `held`: the process imports everything and then waits for `release()` before the
    command starts, so a test can have a worker ready to begin at a moment of its
    choosing without waiting for Python to load it then."""

    def __init__(self, args: list[str], env: dict[str, str], *, held: bool = False) -> None:
        self.log: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        start = ["-c", _HELD] if held else ["-m", "studioloop.cli"]
        self.process = subprocess.Popen(
            [sys.executable, *start, *args],
            env=env,
            stdin=subprocess.PIPE if held else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            text=True,
        )

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.terminate()
        self.wait()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def environment(owner_url: str, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": owner_url,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        **env,
    }


@contextlib.contextmanager
def api_processes(owner_url: str, count: int, **env: str) -> Iterator[list[str]]:
    """`count` api processes started together (starting is the slow part): their URLs."""
    ports = [free_port() for _ in range(count)]
    processes = [
        StudioLoopProcess(["api", "--port", str(port)], environment(owner_url, **env))
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, process in zip(bases, processes, strict=True):
            wait_until_up(base, process)
        yield bases
    finally:
        for process in processes:
            process.process.terminate()
        for process in processes:
            process.wait()


def wait_until_up(base: str, process: StudioLoopProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        if process.process.poll() is not None:
            raise RuntimeError(f"{base} exited: {process.output()}")
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not start in {timeout} s: {process.output()}")


def held_worker(owner_url: str, concurrency: int = 4, **env: str) -> StudioLoopProcess:
    """A `studioloop worker` loaded and waiting for `release()` (it has not touched the
    database yet)."""
    return StudioLoopProcess(
        ["worker", "--concurrency", str(concurrency)], environment(owner_url, **env), held=True
    )


class RoundRobinBalancer:
    """A TCP load balancer on 127.0.0.1 (what HAProxy does in `mode tcp`): each new
    connection goes to the next backend in turn, and bytes are copied both ways untouched,
    so keep-alive requests and WebSocket upgrades pass through. `connections[i]` counts
    the connections backend i was given. Runs its own event loop in a thread, so blocking
    and asynchronous clients alike can use it."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = [
            (url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1])) for url in backends
        ]
        self.connections = [0] * len(backends)
        self._turn = itertools.cycle(range(len(backends)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> RoundRobinBalancer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop
        ).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        index = next(self._turn)
        self.connections[index] += 1
        try:
            backend_reader, backend_writer = await asyncio.open_connection(*self.backends[index])
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                _copy(client_reader, backend_writer), _copy(backend_reader, client_writer)
            )
        finally:
            for writer in (client_writer, backend_writer):
                writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Until the sender closes its side; then close ours towards the receiver."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


def wait_for(condition: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll `condition()` until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout} s)")
        time.sleep(0.1)
