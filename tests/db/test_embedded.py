"""The embedded PostgreSQL stops with the last StudioLoop process, however it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from studioloop.db.embedded import _forget_dead_processes
from tests.fakes.smtp import free_port


def _postgres_running(data_dir: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir / "pg") in cmdline:
            return True
    return False


def test_dead_processes_are_forgotten(tmp_path: Path) -> None:
    handles = tmp_path / ".handle_pids.json"
    dead = 4_000_000  # above the kernel's pid limit: never a live process
    handles.write_text(json.dumps([os.getpid(), dead]))
    _forget_dead_processes(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]


def test_sigterm_stops_the_embedded_database(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(ENVIRONMENT="development", LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studioloop.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("serve did not become ready")
        assert _postgres_running(tmp_path)
        server.send_signal(signal.SIGTERM)  # what systemd and container runtimes send
        server.wait(timeout=60)
        for _ in range(50):
            if not _postgres_running(tmp_path):
                break
            time.sleep(0.2)
        assert not _postgres_running(tmp_path)
    finally:
        if server.poll() is None:
            server.kill()
