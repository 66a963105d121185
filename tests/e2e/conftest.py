"""Browser tests: Playwright driving Debian's chromium against a real StudioLoop process."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import api_process

CHROMIUM = shutil.which("chromium")
# SCREENSHOTS_DIR=docs/screenshots refreshes the committed ones (docs/development.md).
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR")
    or Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium; .ci/run does this)",
)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    # Never `playwright install`: use the distribution's chromium with flags that keep it
    # off the network and quiet in a sandboxed machine.
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--headless",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def live_server(owner_url: str) -> Iterator[str]:
    """`studioloop api` in its own process, on the test database, in development mode."""
    with api_process(owner_url) as base:
        yield base


@pytest.fixture
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if os.environ.get("SCREENSHOTS_DIR"):
            # Committed copies: 128 colours are plenty for a page and keep the repo small.
            from PIL import Image

            with Image.open(path) as image:
                image.convert("RGB").quantize(colors=128).save(path, optimize=True)
        return path

    return take


def wait_until(page: Any, expression: str, timeout: float = 15) -> None:
    """Poll a JavaScript expression until it is true. (Playwright's `wait_for_function`
    polls through `eval`, which the pages' Content Security Policy forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.1)
