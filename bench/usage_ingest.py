"""Usage ingestion benchmark: a creator's app reporting events, against PostgreSQL's COPY.

    .venv/bin/python bench/usage_ingest.py [--events 1000000] [--clients 8]
        [--customers 1000] [--replay-share 0.1] [--serial-checks 1000] [--checks 20000]
        [--check-clients 64] [--server-workers 1] [--seed 1] [--database-url URL]

It starts the product as the other benches do (bench/booking_rush.py: its own PostgreSQL,
the embedded one or a fresh database on --database-url or $DATABASE_URL, dropped
afterwards; one `studioloop api` process, no job worker, rate limits off) and seeds a
creator: an owner, --customers members (accounts, memberships and their subscriptions to
one tier inserted directly: the API takes minutes for a thousand), three meters made over
the API (a count, a sum over a property, a unique count of a property, all fed by the same
event), the tier (a membership plan whose caps are high enough never to refuse), and an
API key with `usage:write` and `usage:read` (`POST /tenants/{slug}/api-keys`).

Then, each phase timed with the CPU of the load generator, the server, PostgreSQL and
everything else on the machine ("other"):

  ingest   --events events in batches of 1,000, `POST /api/v1/usage/events` from --clients
           keep-alive connections of the lean client (bench/lean_http.py), each event with
           a unique id, a random customer (by user id), a timestamp and two properties;
           every answer must say accepted 1,000
  replay   --replay-share of the batches sent again: every answer must say accepted 0
  COPY     the same rows, as ingestion stored them, by PostgreSQL's own `COPY FROM STDIN`
           into a scratch table `(LIKE usage_events INCLUDING ALL)` (unpartitioned, with the
           same columns, defaults and primary key), one connection
  check    --serial-checks `GET /api/v1/usage/check?customer=&meter=` one at a time, then
           --checks from --check-clients connections: client latency, and the server's own
           time per request from its `/metrics` histogram (the server sends no
           Server-Timing header; that time includes waiting for the event loop)

At the end it checks in SQL that the totals hold what was sent (the count meter's events
and the sum meter's events equal the unique events, the sum equals the minutes sent, the
unique count equals the distinct devices per customer, every event and id stored once) and
prints a verdict against the targets (issue 21: 50,000 events/s, check p99 under 5 ms).
With pg_stat_statements preloaded on --database-url, it also prints the ingest phase's
statements by execution time. The exit status is 1 if a check failed (a missed target
is reported, not a failure). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_rush import (
    API,
    BenchDatabase,
    CpuMeter,
    _ok,
    describe_machine,
    http_client,
    insert_accounts,
    log_in,
    percentile,
    run_with_server,
)
from lean_http import LeanConnection, close_all

BATCH = 1000  # the API's largest batch
EVENT = "request"
METERS = (  # slug, aggregation, value property, reset
    ("requests", "count", None, "billing_period"),
    ("minutes", "sum", "minutes", "month"),
    ("devices", "unique_count", "device", "billing_period"),
)
DEVICES_EACH = 5  # a customer's events come from up to this many devices
HIGH_CAP = 1_000_000_000  # hard caps that are checked on every event and never reached
TARGET_EVENTS_PER_S = 50_000
TARGET_CHECK_P99_MS = 5.0
CHECK_ROUTE = f"{API}/usage/check"
LATENCY_METRIC = "studioloop_http_request_duration_seconds"
COPY_COLUMNS = (
    "tenant_id, occurred_at, event_id, user_id, event_name, value, properties, "
    "billing_period_start, billing_period_end, received_at"
)


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="unique events sent")
    parser.add_argument("--clients", type=int, default=8, help="connections sending batches")
    parser.add_argument("--customers", type=int, default=1000, help="members with the tier")
    parser.add_argument(
        "--replay-share", type=float, default=0.10, help="share of the batches sent again"
    )
    parser.add_argument("--checks", type=int, default=20_000, help="usage/check requests")
    parser.add_argument("--check-clients", type=int, default=64, help="connections checking")
    parser.add_argument(
        "--serial-checks", type=int, default=1000, help="usage/check requests one at a time"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of customers and properties")
    parser.add_argument(
        "--server-workers", type=int, default=1, help="`studioloop api --workers N`"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server to use instead of the embedded one (default $DATABASE_URL; "
        "a fresh database is created there and dropped afterwards)",
    )
    args = parser.parse_args(argv)
    if args.events < BATCH or args.events % BATCH:
        parser.error(f"--events must be a positive multiple of {BATCH}")
    if min(args.clients, args.customers, args.checks, args.check_clients, args.serial_checks) < 1:
        parser.error("--clients, --customers, --checks, --check-clients, --serial-checks: >= 1")
    if not 0 < args.replay_share <= 1:
        parser.error("--replay-share must be above 0 and at most 1")
    return args


# --- seeding -------------------------------------------------------------------------------


@dataclass
class Seed:
    tenant_id: str
    key: str  # the API key's secret
    customers: list[str]  # user ids
    meter_ids: dict[str, str]  # by slug
    period: tuple[datetime, datetime]  # every customer's current billing period


async def seed(args: argparse.Namespace, base_url: str, db: BenchDatabase) -> Seed:
    tag = secrets.token_hex(3)
    owner_email = f"owner-{tag}@usage.example.com"
    emails = [f"customer{i}-{tag}@usage.example.com" for i in range(args.customers)]
    await insert_accounts(
        db.conninfo,
        [
            (owner_email, "Bench", "Creator"),
            *((e, "Customer", f"No{i}") for i, e in enumerate(emails)),
        ],
    )
    slug = f"usage-{tag}"
    async with http_client(base_url, 4) as client:
        owner = await log_in(client, owner_email)
        owner_h = {"Authorization": owner["Authorization"]}
        tenant = await _ok(
            client.post(
                f"{API}/tenants",
                headers=owner_h,
                json={"name": "Bench Creator", "slug": slug, "email": f"hi@{slug}.example.com"},
            )
        )
        base = f"{API}/tenants/{slug}"
        meter_ids: dict[str, str] = {}
        for meter_slug, aggregation, prop, reset in METERS:
            body = {"slug": meter_slug, "name": meter_slug.title(), "event_name": EVENT}
            body |= {"aggregation": aggregation, "value_property": prop, "reset": reset}
            made = await _ok(client.post(f"{base}/usage/meters", headers=owner_h, json=body))
            meter_ids[meter_slug] = made["id"]
        caps: dict[str, Any] = {slug: HIGH_CAP for slug, *_ in METERS}
        caps["minutes"] = {"included": HIGH_CAP, "hard": False, "overage_unit_price": 1}
        plan = await _ok(
            client.post(
                f"{base}/membership-plans",
                headers=owner_h,
                json={"name": "Bench Tier", "price": 9900, "usage_caps": caps},
            )
        )
        key = await _ok(
            client.post(
                f"{base}/api-keys",
                headers=owner_h,
                json={"name": "Bench app", "scopes": ["usage:write", "usage:read"]},
            )
        )
    now = datetime.now(UTC)
    period = (now - timedelta(days=1), now + timedelta(days=29))
    async with await psycopg.AsyncConnection.connect(db.conninfo, autocommit=True) as conn:
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant["id"],))
        cursor = await conn.execute(
            "INSERT INTO user_tenant_roles (tenant_id, user_id, role, status) "
            "SELECT %s, id, 'member', 'active' FROM users WHERE email = ANY(%s) RETURNING user_id",
            (tenant["id"], emails),
        )
        customers = [str(row[0]) for row in await cursor.fetchall()]
        await conn.execute(
            "INSERT INTO subscriptions (tenant_id, user_id, plan_id, status, "
            "current_period_start, current_period_end, created_at) "
            "SELECT %s, u, %s, 'active', %s, %s, %s FROM unnest(%s::uuid[]) AS u",
            (tenant["id"], plan["id"], *period, now - timedelta(days=2), customers),
        )
        await conn.execute("VACUUM ANALYZE")
    customers.sort()
    return Seed(tenant["id"], key["secret"], customers, meter_ids, period)


# --- the events ----------------------------------------------------------------------------


@dataclass
class Sent:
    """What the batches hold, for the checks at the end."""

    bodies: list[bytes] = field(default_factory=list)
    minutes: int = 0
    devices: set[tuple[str, str]] = field(default_factory=set)  # (customer, device)


def make_batches(args: argparse.Namespace, customers: Sequence[str]) -> Sent:
    """Every batch encoded before the clock starts: the load generator then only writes
    bytes. Timestamps are within the last ten minutes, inside every customer's period."""
    chance = random.Random(args.seed)
    run = secrets.token_hex(4)
    now = datetime.now(UTC)
    sent = Sent()
    for number in range(args.events // BATCH):
        events = []
        for n in range(BATCH):
            customer = chance.choice(customers)
            device = f"device-{chance.randrange(DEVICES_EACH)}"
            minutes = chance.randint(1, 30)
            when = now - timedelta(seconds=chance.uniform(0, 600))
            events.append(
                {
                    "event_id": f"{run}-{number}-{n}",
                    "customer": customer,
                    "event": EVENT,
                    "properties": {"minutes": minutes, "device": device},
                    "timestamp": when.isoformat(),
                }
            )
            sent.minutes += minutes
            sent.devices.add((customer, device))
        sent.bodies.append(json.dumps({"events": events}).encode())
    return sent


# --- sending -------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    wall: float
    latencies: list[float]
    outcomes: Counter[str]
    events: int = 0
    cpu: dict[str, float | None] = field(default_factory=dict)
    rates_by_tenth: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.wall

    def ms(self, p: float) -> float:
        return 1000 * percentile(self.latencies, p)


async def open_lean(base_url: str, count: int) -> list[LeanConnection]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    return list(await asyncio.gather(*(LeanConnection.open(host, port) for _ in range(count))))


async def send_batches(
    name: str,
    base_url: str,
    key: str,
    bodies: Sequence[bytes],
    clients: int,
    expect_accepted: int,
    cpu_meter: CpuMeter,
) -> Phase:
    """A closed loop: each connection sends the next batch as soon as its last one was
    answered. An answer other than 200 with `expect_accepted` accepted is an outcome to
    report, not fatal."""
    connections = await open_lean(base_url, clients)
    headers = {"Authorization": f"Bearer {key}"}
    queue = iter(range(len(bodies)))
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    answered_at: list[float] = []
    before = cpu_meter.snapshot()
    started = time.perf_counter()

    async def worker(connection: LeanConnection) -> None:
        for index in queue:
            sent = time.perf_counter()
            status, answer = await connection.request(
                "POST", f"{API}/usage/events", headers, bodies[index]
            )
            latencies.append(time.perf_counter() - sent)
            answered_at.append(time.perf_counter() - started)
            outcomes[_outcome(status, answer, expect_accepted)] += 1

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        close_all(connections)
    wall = time.perf_counter() - started
    phase = Phase(name, wall, latencies, outcomes, BATCH * len(bodies))
    phase.cpu = CpuMeter.percent(before, cpu_meter.snapshot(), wall)
    phase.rates_by_tenth = _rates_by_tenth(sorted(answered_at), wall)
    return phase


def _outcome(status: int, answer: bytes, expect_accepted: int) -> str:
    if status != 200:
        return f"{status} {answer[:200]!r}"
    result = json.loads(answer)
    if result["accepted"] != expect_accepted or result["rejected"]:
        return f"accepted {result['accepted']}, duplicates {result['duplicates']}, " + (
            f"rejected {Counter(r['code'] for r in result['rejected'])}"
        )
    return "as expected"


def _rates_by_tenth(answered_at: Sequence[float], wall: float) -> list[float]:
    """Events/s in each tenth of the run's wall time: steady, or slowing as tables grow?"""
    tenth = wall / 10
    counts = Counter(min(9, int(t / tenth)) for t in answered_at)
    return [BATCH * counts[i] / tenth for i in range(10)]


# --- COPY ----------------------------------------------------------------------------------


def copy_payload(bodies: Sequence[bytes], seed_data: Seed, received: datetime) -> bytes:
    """The rows ingestion stored, in COPY's text format: occurred_at, the customer, the
    properties as sent, the billing period (the events fall in it), received_at."""
    start, end = (moment.isoformat() for moment in seed_data.period)
    lines = []
    for body in bodies:
        for e in json.loads(body)["events"]:
            properties = json.dumps(e["properties"]).replace("\\", "\\\\")
            lines.append(
                f"{seed_data.tenant_id}\t{e['timestamp']}\t{e['event_id']}\t{e['customer']}\t"
                f"{e['event']}\t\\N\t{properties}\t{start}\t{end}\t{received.isoformat()}\n"
            )
    return "".join(lines).encode()


async def measure_copy(conninfo: str, payload: bytes, rows: int, cpu_meter: CpuMeter) -> Phase:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS bench_copy_events")
        await conn.execute("CREATE TABLE bench_copy_events (LIKE usage_events INCLUDING ALL)")
        before = cpu_meter.snapshot()
        started = time.perf_counter()
        async with (
            conn.transaction(),
            conn.cursor().copy(f"COPY bench_copy_events ({COPY_COLUMNS}) FROM STDIN") as copy,
        ):
            view = memoryview(payload)
            for offset in range(0, len(payload), 1 << 20):
                await copy.write(view[offset : offset + (1 << 20)])
        wall = time.perf_counter() - started
        cpu = CpuMeter.percent(before, cpu_meter.snapshot(), wall)
        row = await (await conn.execute("SELECT count(*) FROM bench_copy_events")).fetchone()
        await conn.execute("DROP TABLE bench_copy_events")
    copied = int(row[0]) if row else 0
    phase = Phase("COPY", wall, [wall], Counter({"as expected": int(copied == rows)}), copied)
    phase.cpu = cpu
    return phase


# --- checks --------------------------------------------------------------------------------


async def scrape_check_latency(base_url: str) -> tuple[dict[float, float], float, float]:
    """The server's histogram of usage/check times: cumulative counts by upper bound, the
    count and the sum of seconds."""
    async with http_client(base_url, 1) as client:
        text = (await client.get("/metrics")).text
    buckets: dict[float, float] = {}
    count = total = 0.0
    route = f'route="{CHECK_ROUTE}"'
    for line in text.splitlines():
        if route not in line or 'method="GET"' not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        if line.startswith(f"{LATENCY_METRIC}_bucket"):
            bound = re.search(r'le="([^"]+)"', line)
            if bound:
                buckets[float(bound.group(1))] = buckets.get(float(bound.group(1)), 0) + value
        elif line.startswith(f"{LATENCY_METRIC}_count"):
            count += value
        elif line.startswith(f"{LATENCY_METRIC}_sum"):
            total += value
    return buckets, count, total


@dataclass
class ServerTime:
    requests: float
    mean_ms: float
    within_5ms: float  # share of requests the server answered within 5 ms
    p50_bound_ms: float  # the histogram bucket holding the median (an upper bound)
    p99_bound_ms: float


def server_time(
    before: tuple[dict[float, float], float, float], after: tuple[dict[float, float], float, float]
) -> ServerTime:
    buckets = {b: after[0][b] - before[0].get(b, 0) for b in sorted(after[0])}
    count = after[1] - before[1]

    def bound(share: float) -> float:
        return next((1000 * b for b, n in buckets.items() if n >= share * count), float("inf"))

    return ServerTime(
        requests=count,
        mean_ms=1000 * (after[2] - before[2]) / max(count, 1),
        within_5ms=buckets.get(0.005, 0) / max(count, 1),
        p50_bound_ms=bound(0.50),
        p99_bound_ms=bound(0.99),
    )


async def measure_checks(
    base_url: str, seed_data: Seed, cpu_meter: CpuMeter, clients: int, count: int, seed: int
) -> tuple[Phase, ServerTime]:
    """A closed loop of `clients` connections asking about random customers (after a
    warm-up of a few requests per connection, left out)."""
    chance = random.Random(seed)
    headers = {"Authorization": f"Bearer {seed_data.key}"}
    paths = [
        f"{CHECK_ROUTE}?customer={chance.choice(seed_data.customers)}&meter=requests"
        for _ in range(count)
    ]
    connections = await open_lean(base_url, clients)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def loop(queue: Any, connection: LeanConnection, measured: bool) -> None:
        for path in queue:
            sent = time.perf_counter()
            status, answer = await connection.request("GET", path, headers)
            if measured:
                latencies.append(time.perf_counter() - sent)
                allowed = status == 200 and json.loads(answer)["allowed"]
                outcomes["as expected" if allowed else f"{status} {answer[:200]!r}"] += 1

    try:
        warm = iter(paths[: 4 * clients])
        await asyncio.gather(*(loop(warm, c, False) for c in connections))
        before_server = await scrape_check_latency(base_url)
        before = cpu_meter.snapshot()
        started = time.perf_counter()
        queue = iter(paths)
        await asyncio.gather(*(loop(queue, c, True) for c in connections))
        wall = time.perf_counter() - started
        cpu = CpuMeter.percent(before, cpu_meter.snapshot(), wall)
    finally:
        close_all(connections)
    phase = Phase(f"check, {clients} client{'s' * (clients > 1)}", wall, latencies, outcomes)
    phase.events = len(latencies)
    phase.cpu = cpu
    return phase, server_time(before_server, await scrape_check_latency(base_url))


# --- where PostgreSQL's time goes ------------------------------------------------------------

STATEMENTS_SQL = """
SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g')
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 12
"""


async def statement_stats(conninfo: str, *, reset: bool) -> list[Any] | None:
    """With pg_stat_statements preloaded (an external server may have it; the embedded one
    does not): reset its figures, or read this database's costliest statements."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        row = await (await conn.execute("SHOW shared_preload_libraries")).fetchone()
        if row is None or "pg_stat_statements" not in row[0]:
            return None
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if reset:
            await conn.execute("SELECT pg_stat_statements_reset()")
            return []
        return list(await (await conn.execute(STATEMENTS_SQL)).fetchall())


def print_statements(rows: list[Any] | None, events: int) -> None:
    if rows is None:
        print(
            "    (no pg_stat_statements on this server: run with --database-url on one that "
            "preloads it to see PostgreSQL's time by statement)"
        )
        return
    print("    PostgreSQL's execution time by statement (pg_stat_statements):")
    for calls, total_ms, rows_done, query in rows:
        print(
            f"    {1000 * total_ms / events:7.1f} us/event {total_ms / max(calls, 1):8.2f} ms/call "
            f"{calls:>7} calls {rows_done:>9} rows  {query[:90]}"
        )


# --- correctness ---------------------------------------------------------------------------


async def verify(conninfo: str, seed_data: Seed, sent: Sent, unique_events: int) -> list[str]:
    """What the database holds against what was sent; each mismatch as a line."""
    ids = seed_data.meter_ids
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (seed_data.tenant_id,))
        totals = {
            str(r[0]): (int(r[1]), r[2])
            for r in await (
                await conn.execute(
                    "SELECT meter_id, sum(events), sum(value) FROM usage_aggregates "
                    "WHERE tenant_id = %s GROUP BY meter_id",
                    (seed_data.tenant_id,),
                )
            ).fetchall()
        }
        stored = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM usage_events WHERE tenant_id = %(t)s), "
                "(SELECT count(*) FROM usage_event_keys WHERE tenant_id = %(t)s)",
                {"t": seed_data.tenant_id},
            )
        ).fetchone()
    wanted = {
        "count meter's events": (totals.get(ids["requests"], (0, 0))[0], unique_events),
        "count meter's value": (totals.get(ids["requests"], (0, 0))[1], unique_events),
        "sum meter's events": (totals.get(ids["minutes"], (0, 0))[0], unique_events),
        "sum meter's minutes": (totals.get(ids["minutes"], (0, 0))[1], sent.minutes),
        "unique devices": (totals.get(ids["devices"], (0, 0))[1], len(sent.devices)),
        "events stored": (stored[0] if stored else None, unique_events),
        "event ids kept": (stored[1] if stored else None, unique_events),
    }
    return [
        f"{what}: {got} (expected {want})" for what, (got, want) in wanted.items() if got != want
    ]


# --- the report ----------------------------------------------------------------------------


def _cpu(cpu: dict[str, float | None]) -> str:
    return ", ".join(
        f"{name} {'?' if value is None else f'{value:.0f}%'}" for name, value in cpu.items()
    )


def print_phase(phase: Phase, unit: str = "events") -> None:
    bad = {k: v for k, v in phase.outcomes.items() if k != "as expected"}
    print(
        f"  {phase.name}: {phase.events:,} {unit} in {phase.wall:.1f} s"
        f" = {phase.rate:,.0f} {unit}/s"
        + (
            f"; per request p50 {phase.ms(50):.1f} ms, p99 {phase.ms(99):.1f} ms"
            if len(phase.latencies) > 1
            else ""
        )
    )
    print(f"    CPU (100% = one CPU): {_cpu(phase.cpu)}")
    if phase.rates_by_tenth:
        print(
            "    events/s by tenth of the run: "
            + " ".join(f"{r:,.0f}" for r in phase.rates_by_tenth)
        )
    if bad:
        print(f"    UNEXPECTED answers: {dict(bad)}")


def print_summary(
    ingest: Phase,
    replay: Phase,
    copy: Phase,
    serial: tuple[Phase, ServerTime],
    loaded: tuple[Phase, ServerTime],
) -> list[str]:
    """The table of results and the targets missed."""
    print("\nSummary")
    print("| phase | rate | p50 | p99 | CPU: client / server / postgres / other |")
    print("|---|---|---|---|---|")
    for phase in (ingest, replay, copy):
        lat = (
            f"{phase.ms(50):.0f} ms | {phase.ms(99):.0f} ms"
            if len(phase.latencies) > 1
            else "- | -"
        )
        print(f"| {phase.name} | {phase.rate:,.0f} events/s | {lat} | {_cpu_short(phase.cpu)} |")
    for phase, _ in (serial, loaded):
        print(
            f"| {phase.name} | {phase.rate:,.0f} req/s | {phase.ms(50):.1f} ms | "
            f"{phase.ms(99):.1f} ms | {_cpu_short(phase.cpu)} |"
        )
    slowest = min(ingest.rates_by_tenth) if ingest.rates_by_tenth else ingest.rate
    server_ms = (ingest.cpu.get("server") or 0) * ingest.wall * 10 / ingest.events * 1000
    postgres = ingest.cpu.get("postgres")
    postgres_us = (
        "?" if postgres is None else f"{postgres * ingest.wall * 10 / ingest.events * 1000:.0f}"
    )
    print(
        f"\nIngestion: {ingest.rate:,.0f} events/s over the run (slowest tenth "
        f"{slowest:,.0f}), {ingest.rate / copy.rate:.1%} of COPY's {copy.rate:,.0f} rows/s; "
        f"duplicate replay {replay.rate:,.0f} events/s. CPU per event: server "
        f"{server_ms:.0f} us, PostgreSQL {postgres_us} us."
    )
    for phase, server in (serial, loaded):
        cpu_ms = (phase.cpu.get("server") or 0) * phase.wall * 10 / max(phase.events, 1)
        print(
            f"Checks, {phase.name}: client latency p50 {phase.ms(50):.1f} ms, p99 "
            f"{phase.ms(99):.1f} ms; server time (its own histogram, {server.requests:,.0f} "
            f"requests) mean {server.mean_ms:.2f} ms, {server.within_5ms:.1%} within 5 ms "
            f"(p99 <= {server.p99_bound_ms:g} ms bucket); server CPU {cpu_ms:.2f} ms a request."
        )
    missed = []
    if ingest.rate < TARGET_EVENTS_PER_S:
        missed.append(f"ingestion {ingest.rate:,.0f} < {TARGET_EVENTS_PER_S:,} events/s")
    if loaded[1].within_5ms < 0.99:
        missed.append(f"check server p99 over {TARGET_CHECK_P99_MS:g} ms at {loaded[0].name}")
    return missed


def _cpu_short(cpu: dict[str, float | None]) -> str:
    order = ("client", "server", "postgres", "other")
    return " / ".join("?" if cpu.get(k) is None else f"{cpu[k]:.0f}%" for k in order)


# --- the run -------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace, base_url: str, db: BenchDatabase, pid: int) -> int:
    started = time.monotonic()
    print(f"Seeding ({args.customers:,} customers with the tier, 3 meters, an API key) ...")
    seed_data = await seed(args, base_url, db)
    sent = make_batches(args, seed_data.customers)
    print(
        f"  seeded and {len(sent.bodies):,} batches encoded in {time.monotonic() - started:.0f} s"
    )
    cpu_meter = CpuMeter(pid, db.postmaster_pid_file)

    print(f"Ingest: {args.events:,} events, batches of {BATCH:,}, {args.clients} clients")
    await statement_stats(db.conninfo, reset=True)
    ingest = await send_batches(
        "ingest", base_url, seed_data.key, sent.bodies, args.clients, BATCH, cpu_meter
    )
    print_phase(ingest)
    print_statements(await statement_stats(db.conninfo, reset=False), args.events)
    received = datetime.now(UTC)

    step = max(1, round(1 / args.replay_share))
    replayed = sent.bodies[::step]
    print(f"Replay: {len(replayed):,} batches sent again, {args.clients} clients")
    replay = await send_batches(
        "replay", base_url, seed_data.key, replayed, args.clients, 0, cpu_meter
    )
    print_phase(replay)

    print("COPY: the same rows into an unpartitioned (LIKE usage_events INCLUDING ALL) table")
    payload = copy_payload(sent.bodies, seed_data, received)
    copy = await measure_copy(db.conninfo, payload, args.events, cpu_meter)
    del payload
    print_phase(copy, "rows")

    print(f"Check: {args.serial_checks:,} usage/check requests one at a time")
    serial, serial_server = await measure_checks(
        base_url, seed_data, cpu_meter, 1, args.serial_checks, args.seed + 1
    )
    print_phase(serial, "requests")
    print(f"Check: {args.checks:,} usage/check requests, {args.check_clients} clients")
    check, server = await measure_checks(
        base_url, seed_data, cpu_meter, args.check_clients, args.checks, args.seed + 2
    )
    print_phase(check, "requests")

    failures = await verify(db.conninfo, seed_data, sent, args.events)
    for phase in (ingest, replay, copy, serial, check):
        unexpected = {k: v for k, v in phase.outcomes.items() if k != "as expected"}
        if unexpected:
            failures.append(f"{phase.name}: unexpected answers {unexpected}")
    missed = print_summary(ingest, replay, copy, (serial, serial_server), (check, server))
    if failures:
        print("\nCHECKS FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(
        "\nAll checks passed"
        + (f"; targets missed: {'; '.join(missed)}" if missed else "; all targets met.")
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    describe_machine()
    print(
        f"Settings: {args.events:,} events, {args.clients} clients, {args.customers:,} "
        f"customers, replay {args.replay_share:.0%}, {args.checks:,} checks at "
        f"{args.check_clients} clients, server worker processes {args.server_workers}, "
        f"database {'at --database-url' if args.database_url else 'embedded PostgreSQL'}"
    )
    return run_with_server(args, partial(benchmark, args))


if __name__ == "__main__":
    sys.exit(main())
