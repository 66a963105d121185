"""Logs: JSON lines for machines, readable lines when a person watches a terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest

from studioloop.config import Settings
from studioloop.core.logging import wants_json

LOG_SOMETHING = """
import logging
from studioloop.config import get_settings
from studioloop.core.logging import configure_logging, get_logger

settings = get_settings()
configure_logging("INFO", settings.log_renderer)
get_logger("studioloop.test").info("booking made", seats=3)
logging.getLogger("procrastinate.worker").warning("from the standard library")
"""


def _stderr(*, terminal: bool, **env: str) -> str:
    """What a process logs on stderr, written to a pipe or to a real terminal (a pty)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    environment.update(env)
    if not terminal:
        return subprocess.run(
            [sys.executable, "-c", LOG_SOMETHING],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stderr
    leader, follower = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", LOG_SOMETHING],
            env=environment,
            stderr=follower,
            stdout=subprocess.DEVNULL,
            timeout=60,
            check=True,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_auto_writes_json_to_a_pipe_and_lines_for_a_person_to_a_terminal() -> None:
    piped = _json_lines(_stderr(terminal=False))
    assert piped[0]["event"] == "booking made" and piped[0]["seats"] == 3
    assert piped[1]["event"] == "from the standard library"
    assert piped[1]["level"] == "warning"

    coloured = _stderr(terminal=True)
    assert "\x1b[" in coloured  # colours, for a person
    shown = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    assert "[info     ] booking made" in shown and "seats=3" in shown
    assert "from the standard library" in shown
    with pytest.raises(json.JSONDecodeError):
        _json_lines(shown)


def test_log_format_overrides_what_the_terminal_suggests() -> None:
    as_json = _json_lines(_stderr(terminal=True, LOG_FORMAT="json"))
    assert as_json[0]["event"] == "booking made"
    console = _stderr(terminal=False, LOG_FORMAT="console")
    assert "booking made" in console and not console.lstrip().startswith("{")
    older = _stderr(terminal=False, LOG_JSON="false")  # the older setting still works
    assert "booking made" in older and not older.lstrip().startswith("{")


def test_the_choice_itself() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_json("auto", io.StringIO())
    assert not wants_json("auto", Terminal())
    assert wants_json("json", Terminal())
    assert not wants_json("console", io.StringIO())
    with pytest.raises(ValueError, match="log format"):
        wants_json("xml")
    assert Settings(log_format="json").log_renderer == "json"
    assert Settings(log_json=False).log_renderer == "console"
    assert Settings(log_json=False, log_format="json").log_renderer == "json"
    assert Settings().log_renderer == "auto"
