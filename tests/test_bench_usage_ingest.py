"""bench/usage_ingest.py, run tiny against the test session's PostgreSQL so that it keeps
working: 2,000 events from 2 clients, a replay, COPY, checks, and its own SQL checks of
the totals (the full run and its figures: docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "usage_ingest.py"


def _load_bench() -> ModuleType:
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_usage_ingest", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def test_options_default_to_a_million_events_from_eight_clients() -> None:
    args = bench.parse_args([])

    assert (args.events, args.clients, args.customers, args.check_clients) == (
        1_000_000,
        8,
        1000,
        64,
    )
    assert args.replay_share == pytest.approx(0.1)


@pytest.mark.parametrize(
    "argv",
    [["--events", "1500"], ["--events", "0"], ["--clients", "0"], ["--replay-share", "0"]],
)
def test_options_out_of_range_are_refused(argv: list[str]) -> None:
    # Events go in whole batches of 1,000.
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_a_tiny_run_ingests_replays_copies_checks_and_verifies(owner_url: str) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--events", "2000", "--clients", "2", "--customers", "20"),
            *("--checks", "100", "--check-clients", "4", "--serial-checks", "20"),
            *("--database-url", owner_url),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    out = run.stdout
    assert "ingest: 2,000 events" in out
    assert "replay: 1,000 events" in out  # every tenth batch: the first of two
    assert "COPY: 2,000 rows" in out
    assert "All checks passed" in out
    assert "UNEXPECTED" not in out
