"""bench/soak.py without a server: its options, its mix of requests and its verdict.

The soak itself runs for minutes against a real server (docs/benchmarks.md); these check
the parts that decide what it sends and whether it passes, on synthetic answers.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


soak = _load_soak()
MIB = 2**20


def test_options_default_to_ten_minutes_after_a_measured_capacity() -> None:
    args = soak.parse_args([])

    assert (args.minutes, args.rate, args.warmup_minutes, args.seed) == (10, None, 1, 1)
    chosen = soak.parse_args(["--minutes", "2", "--rate", "40", "--seed", "7"])
    assert (chosen.minutes, chosen.rate, chosen.seed) == (2, 40.0, 7)


@pytest.mark.parametrize(
    "argv",
    [["--minutes", "1"], ["--minutes", "0"], ["--rate", "0"], ["--warmup-minutes", "-1"]],
)
def test_options_out_of_range_are_refused(argv: list[str]) -> None:
    # --minutes 1 leaves nothing after the default minute of warm-up.
    with pytest.raises(SystemExit):
        soak.parse_args(argv)


def _minute(number: int, p99_ms: float, rss_mib: float, errors: int = 0) -> object:
    minute = soak.Minute(number)
    for kind in soak.MIX:  # 5% of the answers at the p99 wanted
        for answer in range(100):
            minute.record(kind, p99_ms / 1000 if answer % 20 == 0 else 0.001, None)
    for _ in range(errors):
        minute.record("book", 0.001, "500 INTERNAL_ERROR")
    minute.rss = int(rss_mib * MIB)
    return minute


def test_a_flat_steady_run_passes_and_the_warm_up_is_left_out() -> None:
    # The warm-up grows and is slow; after it memory is flat and p99 within 20%.
    minutes = [_minute(1, 90, 200), _minute(2, 20, 202), _minute(3, 23, 203), _minute(4, 21, 204)]

    verdict = soak.judge(minutes, warmup=1, rss_at_start=100 * MIB)

    assert verdict.passed, verdict.missed
    assert verdict.memory_growth == pytest.approx(0.02)
    assert verdict.p99_spread == pytest.approx(23 / 20)
    assert verdict.errors == 0


def test_growth_unstable_p99_and_any_error_each_fail() -> None:
    growing = [_minute(1, 20, 100), _minute(2, 20, 100), _minute(3, 20, 106)]
    unstable = [_minute(1, 20, 100), _minute(2, 20, 100), _minute(3, 30, 100)]
    warm_up_error = [_minute(1, 20, 100, errors=1), _minute(2, 20, 100), _minute(3, 20, 100)]

    assert soak.judge(growing, 1, 0).missed == ["memory growth < 5%"]
    assert soak.judge(unstable, 1, 0).missed == ["p99 within 20%"]
    assert soak.judge(warm_up_error, 1, 0).errors == 1
    assert soak.judge(warm_up_error, 1, 0).missed == ["zero errors"]
    # Chat deliveries missing or sockets dropped count too.
    assert soak.judge(growing[:2], 1, 0, other_errors=2).missed == ["zero errors"]


def test_without_warm_up_growth_counts_from_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    minutes = [_minute(1, 20, 110), _minute(2, 20, 112)]

    verdict = soak.judge(minutes, warmup=0, rss_at_start=100 * MIB)
    soak.print_summary(minutes, 0, verdict)

    assert verdict.memory_growth == pytest.approx(0.12)
    out = capsys.readouterr().out
    assert "Memory growth after the warm-up: +12.0%" in out
    assert out.rstrip().endswith("FAIL: missed memory growth < 5%")


def test_the_mix_keeps_each_member_to_one_booking_and_acts_as_the_right_person() -> None:
    studios = [
        soak.Studio(f"studio-{i}", {"Authorization": f"staff-{i}"}, [f"o{i}a", f"o{i}b"], p)
        for i, p in enumerate(soak.PLACES)
    ]
    members = [{"Authorization": f"member-{i}"} for i in range(4)]
    seed = soak.Seed(studios, members, "/room/messages", {"Authorization": "guest"}, [])
    traffic = soak.Traffic(seed, random.Random(3))
    by_booking: dict[str, tuple[str, str]] = {}  # booking -> (member, studio)
    kinds: Counter[str] = Counter()

    for n in range(2000):
        call = traffic.next_call()
        kinds[call.kind] += 1
        answer = b"{}"
        if call.kind == "book":
            slug = call.path.split("/")[4]
            by_booking[f"b{n}"] = (call.headers["Authorization"], slug)
            answer = json.dumps({"id": f"b{n}", "qr_code": f"code-b{n}"}).encode()
        elif call.kind == "checkin":
            booking = json.loads(call.body)["code"].removeprefix("code-")
            assert call.headers == {"Authorization": f"staff-{by_booking[booking][1][-1]}"}
            assert f"/tenants/{by_booking[booking][1]}/" in call.path
        elif call.kind == "cancel":
            booking = call.path.rsplit("/", 1)[1]
            assert call.headers["Authorization"] == by_booking.pop(booking)[0]
        elif call.kind == "chat":
            answer = json.dumps({"seq": n}).encode()
        call.settle(soak.EXPECTED_STATUS[call.kind], answer)
        held = [h.member["Authorization"] for h in (*traffic.to_check_in, *traffic.to_cancel)]
        idle = [m["Authorization"] for m in traffic.idle]
        assert sorted(held + idle) == sorted(m["Authorization"] for m in members)

    assert set(kinds) == set(soak.MIX)
    assert kinds["chat"] == len(traffic.chat_sent)
