"""The stalled-job check's cadence follows JOB_STALLED_AFTER_SECONDS (jobs/recovery.py;
tests/faults/test_worker_killed.py kills a worker mid-job)."""

from __future__ import annotations

import itertools

import croniter

from studioloop.jobs.recovery import cron_every


def _gaps(cron: str) -> set[float]:
    times = croniter.croniter(cron, 0)
    ticks = [times.get_next(float) for _ in range(8)]
    return {later - earlier for earlier, later in itertools.pairwise(ticks)}


def test_the_check_runs_every_half_of_the_stalled_time() -> None:
    assert _gaps(cron_every(15)) == {15.0}  # the default: stalled after 30 s
    assert _gaps(cron_every(1)) == {1.0}
    assert _gaps(cron_every(120)) == {120.0}
