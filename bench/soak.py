"""Soak benchmark: mixed traffic at about 70% of the measured capacity for minutes on end.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate R] [--warmup-minutes 1]
        [--seed 1] [--server-workers 1] [--database-url URL]

It starts the product as the other benches do (bench/booking_rush.py: its own PostgreSQL,
the embedded one or a fresh database on --database-url or $DATABASE_URL, dropped
afterwards; one `studioloop api` process, no job worker, rate limits off) and seeds two
studios on the marketplace, each with a location, an owner, an instructor and three
classes on a timetable (a class every four hours for a week), members with credits at
both, and a support chat room with two staff WebSocket listeners. The mixed traffic:

  timetable  GET  /tenants/{slug}/schedules                     (public)
  search     GET  /marketplace/search?lat=&lng=&radius_km=10   (public; some with q=)
  book       POST /tenants/{slug}/bookings                      (a member)
  checkin    POST /tenants/{slug}/checkin {"code"}             (the studio's instructor,
                                                                 with the booking's QR code)
  cancel     DELETE /tenants/{slug}/bookings/{id}               (the member; refunded, so
                                                                 seats and credits recycle)
  chat       POST /tenants/{slug}/chat/rooms/{id}/messages      (a guest; both listeners
                                                                 must receive every message)

Without --rate it first measures the capacity: a closed loop of the same mix at 2, 4, 8,
... 64 clients, 8 seconds each, until throughput stops rising; the soak then runs open
loop (requests sent on a fixed schedule whatever the answers, latency counted from when
each was due, as wrk2 does) at 70% of the best throughput. Every minute it prints
requests/s and p99 by kind and overall, errors (any status but the expected one, and
transport failures, by kind and status) and the server's RSS (its whole process tree).
At the end: memory growth after the warm-up, the spread of the per-minute p99 after the
warm-up (max / min), the error count, and PASS or FAIL against the targets (growth < 5%,
p99 within 20%, zero errors); the exit status is 1 on FAIL. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_rush import (
    API,
    SEED_CONCURRENCY,
    BenchDatabase,
    CpuMeter,
    _ok,
    describe_machine,
    http_client,
    insert_accounts,
    join_with_credits,
    limited,
    log_in,
    percentile,
    run_with_server,
)
from lean_http import LeanConnection

# The mix: relative weights of the kinds of request.
MIX = {"timetable": 30, "search": 20, "book": 14, "checkin": 10, "cancel": 14, "chat": 12}
EXPECTED_STATUS = {
    "timetable": 200,
    "search": 200,
    "book": 201,
    "checkin": 200,
    "cancel": 200,
    "chat": 201,
}
LOAD_SHARE = 0.70  # of the measured capacity
TARGET_MEMORY_GROWTH = 0.05
TARGET_P99_SPREAD = 1.20
RAMP_CLIENTS = (2, 4, 8, 16, 32, 64)
RAMP_STEP_S = 8.0
# The ramp ends after two steps in a row that did not beat the best so far by 5%.
RAMP_GAIN = 1.05
RAMP_PATIENCE = 2
MEMBERS = 100
CREDITS_EACH = 5  # a member holds one booking at a time and is refunded on cancelling
CLASSES = (("Soak Flow", "yoga"), ("Soak Core", "pilates"), ("Soak Burn", "hiit"))
OCCURRENCES_PER_CLASS = 42  # every 4 hours for a week
CHECKIN_OPENS_MINUTES = 14 * 24 * 60  # every class time of the timetable can be checked in
PLACES = ((-33.918, 18.387), (-33.925, 18.42))  # the two studios, Cape Town
MAX_CONNECTIONS = 256
# uvicorn closes a keep-alive connection idle for 5 s; one idle longer than this is not
# reused, so that no request races the server's close.
REUSE_IDLE_S = 2.0
DRAIN_S = 30.0
TRANSPORT = "transport"


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="length of the soak")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests per second of the soak (default: 70%% of the capacity measured first)",
    )
    parser.add_argument(
        "--warmup-minutes",
        type=int,
        default=1,
        help="first minutes left out of the memory growth and the p99 spread",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the mix and the places")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="`studioloop api --workers N`: server processes (RSS counts them all)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server to use instead of the embedded one (default $DATABASE_URL; "
        "a fresh database is created there and dropped afterwards)",
    )
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.server_workers < 1:
        parser.error("--minutes and --server-workers must be at least 1")
    if not 0 <= args.warmup_minutes < args.minutes:
        parser.error("--warmup-minutes must be 0 or more and less than --minutes")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be above 0")
    return args


# --- seeding -------------------------------------------------------------------------------


@dataclass
class Studio:
    slug: str
    staff: dict[str, str]  # the instructor's auth header (check-ins)
    occurrence_ids: list[str]
    place: tuple[float, float]


@dataclass
class Seed:
    studios: list[Studio]
    members: list[dict[str, str]]  # auth headers
    room_path: str  # POST here to send a chat message
    guest: dict[str, str]
    listener_urls: list[str]  # the staff's WebSocket addresses


async def seed(base_url: str, db: BenchDatabase, first_class: datetime) -> Seed:
    tag = secrets.token_hex(3)

    def email(who: str) -> str:
        return f"{who}-{tag}@soak.example.com"

    staff_names = [f"{role}{i}" for i in range(len(PLACES)) for role in ("owner", "instructor")]
    member_names = [f"member{i}" for i in range(MEMBERS)]
    await insert_accounts(
        db.conninfo, [(email(name), "Soak", name) for name in staff_names + member_names]
    )
    async with http_client(base_url, SEED_CONCURRENCY * 2) as client:
        login = partial(log_in, client)
        members = await limited(SEED_CONCURRENCY, (login(email(n)) for n in member_names))
        studios: list[Studio] = []
        owners: list[dict[str, str]] = []
        for i, place in enumerate(PLACES):
            owner = await login(email(f"owner{i}"))
            instructor = await login(email(f"instructor{i}"))
            owners.append(owner)
            studios.append(
                await seed_studio(client, f"soak-{i}-{tag}", place, owner, instructor, members)
            )
            await add_timetable(client, owner, studios[-1], first_class)
        # A guest asks the first studio a question; its owner and instructor listen.
        chat_base = f"{API}/tenants/{studios[0].slug}"
        guest = await _ok(
            client.post(
                f"{chat_base}/guest/token", json={"name": "Soak Guest", "email": email("guest")}
            )
        )
        guest_h = {"Authorization": f"Bearer {guest['token']}"}
        room = await _ok(
            client.post(f"{chat_base}/chat/rooms", headers=guest_h, json={"subject": "Soak"})
        )
    ws_base = base_url.replace("http", "ws", 1)
    listener_urls = [
        f"{ws_base}{API}/chat/rooms/{room['id']}/websocket?"
        + urlencode({"token": staff["Authorization"].split()[1], "tenant": studios[0].slug})
        for staff in (owners[0], studios[0].staff)
    ]
    return Seed(
        studios=studios,
        members=[{"Authorization": m["Authorization"]} for m in members],
        room_path=f"{chat_base}/chat/rooms/{room['id']}/messages",
        guest=guest_h,
        listener_urls=listener_urls,
    )


async def seed_studio(
    client: httpx.AsyncClient,
    slug: str,
    place: tuple[float, float],
    owner: dict[str, str],
    instructor: dict[str, str],
    members: list[dict[str, str]],
) -> Studio:
    """A studio on the marketplace (its location comes with the timetable); its
    instructor and every member joined with credits (the instructor's go unused).
    Check-in opens as early as any class time it has."""
    owner_h = {"Authorization": owner["Authorization"]}
    await _ok(
        client.post(
            f"{API}/tenants",
            headers=owner_h,
            json={
                "name": f"Soak Studio {slug}",
                "slug": slug,
                "email": f"hi@{slug}.example.com",
                "settings": {"checkin_opens_minutes_before": CHECKIN_OPENS_MINUTES},
            },
        )
    )
    await join_with_credits(client, slug, owner_h, [instructor, *members], CREDITS_EACH)
    await _ok(
        client.patch(
            f"{API}/tenants/{slug}/members/{instructor['_id']}",
            headers=owner_h,
            json={"role": "instructor"},
        ),
        200,
    )
    return Studio(slug, {"Authorization": instructor["Authorization"]}, [], place)


async def add_timetable(
    client: httpx.AsyncClient, owner: dict[str, str], studio: Studio, first_class: datetime
) -> None:
    """Three classes at the studio's location, each every four hours for a week from
    `first_class` (after the run ends: a started class takes no bookings or
    cancellations). Cancelling is never late (window 0 hours), so credits come back."""
    owner_h = {"Authorization": owner["Authorization"]}
    base = f"{API}/tenants/{studio.slug}"
    lat, lng = studio.place
    location = await _ok(
        client.post(
            f"{base}/locations",
            headers=owner_h,
            json={"name": "Main studio", "latitude": lat, "longitude": lng},
        )
    )
    for offset, (name, class_type) in enumerate(CLASSES):
        created = await _ok(
            client.post(
                f"{base}/classes",
                headers=owner_h,
                json={
                    "name": name,
                    "class_type": class_type,
                    "duration_minutes": 60,
                    "max_capacity": 10_000,
                    "credits_required": 1,
                    "location_id": location["id"],
                    "booking_window_hours": 24 * 14,
                    "cancellation_window_hours": 0,
                },
            )
        )
        answers = await limited(
            SEED_CONCURRENCY,
            (
                _ok(
                    client.post(
                        f"{base}/schedules",
                        headers=owner_h,
                        json={
                            "class_id": created["id"],
                            "start_time": (
                                first_class + timedelta(hours=4 * n + offset)
                            ).isoformat(),
                        },
                    )
                )
                for n in range(OCCURRENCES_PER_CLASS)
            ),
        )
        studio.occurrence_ids += [str(a["occurrences"][0]["id"]) for a in answers]


# --- the traffic ---------------------------------------------------------------------------


@dataclass
class Holding:
    """A member's confirmed booking, not in flight."""

    member: dict[str, str]
    studio: Studio
    booking_id: str
    code: str


@dataclass
class Call:
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    # Told the answer (None after a transport failure): puts the member or booking back.
    settle: Callable[[int | None, bytes], None] = lambda status, answer: None


class Traffic:
    """Plans the next request of the mix. Each member holds at most one booking, so no
    two of theirs overlap; a booking goes from `book` to `to_check_in`, through `checkin`
    to `to_cancel`, and `cancel` frees the member again. A kind that has nothing to act
    on becomes another one (`checkin` with nobody to check in books, and so on)."""

    def __init__(self, seed: Seed, rng: random.Random) -> None:
        self.seed = seed
        self.rng = rng
        self.idle: deque[dict[str, str]] = deque(seed.members)
        self.to_check_in: deque[Holding] = deque()
        self.to_cancel: deque[Holding] = deque()
        self.chat_sent: set[int] = set()  # seq of every message the server accepted
        self.kinds = list(MIX)
        self.weights = list(MIX.values())
        self.plan: dict[str, Callable[[], Call]] = {
            "timetable": self.timetable,
            "search": self.search,
            "book": self.book,
            "checkin": self.checkin,
            "cancel": self.cancel,
            "chat": self.chat,
        }

    def next_call(self) -> Call:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "checkin" and not self.to_check_in:
            kind = "book"
        if kind == "cancel" and not (self.to_cancel or self.to_check_in):
            kind = "book"
        if kind == "book" and not self.idle:
            kind = "cancel" if self.to_cancel or self.to_check_in else "timetable"
        return self.plan[kind]()

    def timetable(self) -> Call:
        studio = self.rng.choice(self.seed.studios)
        return Call("timetable", "GET", f"{API}/tenants/{studio.slug}/schedules", {})

    def search(self) -> Call:
        lat, lng = self.rng.choice(self.seed.studios).place
        params: dict[str, Any] = {
            "lat": round(lat + self.rng.uniform(-0.05, 0.05), 5),
            "lng": round(lng + self.rng.uniform(-0.05, 0.05), 5),
            "radius_km": 10,
        }
        if self.rng.random() < 0.3:
            params["q"] = self.rng.choice(CLASSES)[1]
        return Call("search", "GET", f"{API}/marketplace/search?{urlencode(params)}", {})

    def book(self) -> Call:
        member = self.idle.popleft()
        studio = self.rng.choice(self.seed.studios)
        occurrence = self.rng.choice(studio.occurrence_ids)

        def settle(status: int | None, answer: bytes) -> None:
            if status == 201:
                booking = json.loads(answer)
                self.to_check_in.append(
                    Holding(member, studio, str(booking["id"]), str(booking["qr_code"]))
                )
            elif status is not None:  # refused: nothing was booked
                self.idle.append(member)

        body = json.dumps({"class_schedule_id": occurrence}).encode()
        return Call("book", "POST", f"{API}/tenants/{studio.slug}/bookings", member, body, settle)

    def checkin(self) -> Call:
        holding = self.to_check_in.popleft()

        def settle(status: int | None, answer: bytes) -> None:
            if status is not None:  # checked in or not, the booking stands
                self.to_cancel.append(holding)

        body = json.dumps({"code": holding.code}).encode()
        path = f"{API}/tenants/{holding.studio.slug}/checkin"
        return Call("checkin", "POST", path, holding.studio.staff, body, settle)

    def cancel(self) -> Call:
        holding = (self.to_cancel or self.to_check_in).popleft()

        def settle(status: int | None, answer: bytes) -> None:
            if status == 200:
                self.idle.append(holding.member)

        path = f"{API}/tenants/{holding.studio.slug}/bookings/{holding.booking_id}"
        return Call("cancel", "DELETE", path, holding.member, settle=settle)

    def chat(self) -> Call:
        def settle(status: int | None, answer: bytes) -> None:
            if status == 201:
                self.chat_sent.add(int(json.loads(answer)["seq"]))

        body = json.dumps({"body": f"soak message {self.rng.randrange(10**6)}"}).encode()
        return Call("chat", "POST", self.seed.room_path, self.seed.guest, body, settle)


class ConnectionPool:
    """Keep-alive connections of the lean client (bench/lean_http.py), one request in
    flight on each; new ones are opened as needed, up to MAX_CONNECTIONS."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[tuple[LeanConnection, float]] = []
        self.gate = asyncio.Semaphore(MAX_CONNECTIONS)

    async def send(self, call: Call) -> tuple[int, bytes]:
        async with self.gate:
            connection = None
            while self.idle and connection is None:
                candidate, last_used = self.idle.pop()
                if time.monotonic() - last_used < REUSE_IDLE_S and candidate.is_open:
                    connection = candidate
                else:
                    candidate.close()
            if connection is None:
                connection = await LeanConnection.open(self.host, self.port)
            try:
                answer = await connection.request(call.method, call.path, call.headers, call.body)
            except BaseException:
                connection.close()
                raise
            self.idle.append((connection, time.monotonic()))
            return answer

    def close(self) -> None:
        for connection, _ in self.idle:
            connection.close()
        self.idle = []


# --- recording -----------------------------------------------------------------------------


@dataclass
class Minute:
    """What was answered within one minute of the soak, and the server at its end."""

    number: int  # from 1
    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, status)
    rss: int = 0  # bytes, the server's process tree at the end of the minute
    in_flight: int = 0  # requests sent and not yet answered at the end of the minute
    cpu: dict[str, float | None] = field(default_factory=dict)

    def record(self, kind: str, latency: float, error: str | None) -> None:
        self.latencies.setdefault(kind, []).append(latency)
        if error is not None:
            self.errors[(kind, error)] += 1

    @property
    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]

    def p99(self, kind: str | None = None) -> float | None:
        values = self.all_latencies if kind is None else self.latencies.get(kind, [])
        return percentile(values, 99) if values else None


async def send(pool: ConnectionPool, call: Call, due: float, into: Callable[[], Minute]) -> None:
    """Send one call and record it, its latency counted from when it was due, in the
    minute it was answered in."""
    status: int | None = None
    answer = b""
    error: str | None = None
    try:
        status, answer = await pool.send(call)
    except OSError as failure:  # ConnectionLost is one
        error = f"{TRANSPORT} {type(failure).__name__}"
    latency = time.monotonic() - due
    if status is not None and status != EXPECTED_STATUS[call.kind]:
        error = str(status)
        if len(answer) < 2000:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                error = f"{status} {json.loads(answer)['error']['code']}"
    call.settle(status, answer)
    into().record(call.kind, latency, error)


def server_rss(pid: int) -> int:
    """Resident memory of the server and its children (`--workers` processes), bytes."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


async def listen(url: str, received: set[int], failures: Counter[str]) -> None:
    """A staff member's WebSocket on the room: every message's seq. A dropped socket is
    counted and reconnected from the last seq, as the widget does."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    last = 0
    while True:
        try:
            async with connect(f"{url}&after={last}" if last else url, max_queue=None) as ws:
                async for raw in ws:
                    event = json.loads(raw)
                    if event.get("type") == "message":
                        last = max(last, int(event["message"]["seq"]))
                        received.add(int(event["message"]["seq"]))
                    elif event.get("type") == "error":
                        failures[f"websocket {event.get('code')}"] += 1
        except (OSError, WebSocketException) as error:
            failures[f"websocket {type(error).__name__}"] += 1
        failures["websocket closed"] += 1
        await asyncio.sleep(0.5)


# --- the phases ----------------------------------------------------------------------------


async def measure_capacity(pool: ConnectionPool, traffic: Traffic) -> tuple[float, Counter[str]]:
    """Closed loops of the mix at more and more clients, until throughput stops rising:
    the best throughput, and any errors (at saturation; reported, not judged)."""
    print(f"Capacity: closed loop of the mix, {RAMP_STEP_S:.0f} s per step")
    best = 0.0
    flat = 0
    errors: Counter[str] = Counter()
    for clients in RAMP_CLIENTS:
        step = Minute(0)
        stop = time.monotonic() + RAMP_STEP_S

        async def worker(minute: Minute = step, until: float = stop) -> None:
            while time.monotonic() < until:
                await send(pool, traffic.next_call(), time.monotonic(), lambda: minute)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.monotonic() - started
        latencies = step.all_latencies
        rate = len(latencies) / wall
        errors.update(f"{kind} {status}" for (kind, status) in step.errors.elements())
        print(
            f"  {clients:3} clients  {rate:7.1f} req/s  p50 {percentile(latencies, 50) * 1000:7.1f}"
            f" ms  p99 {percentile(latencies, 99) * 1000:7.1f} ms  errors {step.errors.total()}"
        )
        flat = flat + 1 if rate < best * RAMP_GAIN else 0
        best = max(best, rate)
        if flat == RAMP_PATIENCE:
            break
    return best, errors


async def soak(
    args: argparse.Namespace, pool: ConnectionPool, traffic: Traffic, rate: float, meter: Meter
) -> list[Minute]:
    """Open loop: request i is due at start + i / rate whatever came back before."""
    loop = asyncio.get_running_loop()
    count: int = args.minutes
    minutes = [Minute(n + 1) for n in range(count)]
    start = loop.time()
    end = start + 60 * count

    def current() -> Minute:
        return minutes[min(int((loop.time() - start) // 60), count - 1)]

    pending: set[asyncio.Task[None]] = set()

    async def dispatch() -> None:
        for i in range(int(rate * 60 * count)):
            due = start + i / rate
            if due >= end:
                break
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            call = traffic.next_call()
            task = asyncio.create_task(send(pool, call, due, current), name=call.kind)
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_S)
        for task in list(pending):  # never answered: an error of its kind
            task.cancel()
            minutes[-1].errors[(task.get_name(), f"no answer within {DRAIN_S:.0f} s")] += 1

    dispatcher = asyncio.create_task(dispatch())
    for minute in minutes:
        await asyncio.sleep(max(0.0, start + 60 * minute.number - loop.time()))
        minute.rss, minute.cpu = meter.read()
        minute.in_flight = len(pending)
        if minute.number == count:
            await dispatcher  # the last minute takes what was still in flight
        print_minute(minute)
    return minutes


class Meter:
    """The server's RSS and the CPU of each part, between one reading and the next."""

    def __init__(self, server_pid: int, db: BenchDatabase) -> None:
        self.server_pid = server_pid
        self.cpu = CpuMeter(server_pid, db.postmaster_pid_file)
        self.before = self.cpu.snapshot()
        self.at = time.monotonic()

    def start(self) -> int:
        self.before, self.at = self.cpu.snapshot(), time.monotonic()
        return server_rss(self.server_pid)

    def read(self) -> tuple[int, dict[str, float | None]]:
        now, at = self.cpu.snapshot(), time.monotonic()
        used = CpuMeter.percent(self.before, now, at - self.at)
        self.before, self.at = now, at
        return server_rss(self.server_pid), used


# --- reporting -----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def print_minute(minute: Minute) -> None:
    total = len(minute.all_latencies)
    cpu = " / ".join(
        "n/a" if (v := minute.cpu.get(k)) is None else f"{v:.0f}"
        for k in ("server", "postgres", "client", "other")
    )
    print(
        f"minute {minute.number:3}  {total / 60:7.1f} req/s  p99 {_ms(minute.p99())} ms  "
        f"errors {minute.errors.total()}  in flight {minute.in_flight}  "
        f"RSS {minute.rss / 2**20:.1f} MiB  "
        f"CPU % server/postgres/client/other {cpu}"
    )
    print(
        "             "
        + "  ".join(
            f"{kind} {len(minute.latencies.get(kind, [])) / 60:.1f}/s p99 {_ms(minute.p99(kind))}"
            for kind in MIX
        )
    )
    for (kind, status), count in sorted(minute.errors.items()):
        print(f"             ERROR {kind}: {status} x {count}")


@dataclass
class Verdict:
    memory_growth: float | None  # fraction of the RSS at the end of the warm-up
    p99_spread: float | None  # max / min of the per-minute p99 after the warm-up
    errors: int
    missed: list[str]

    @property
    def passed(self) -> bool:
        return not self.missed


def judge(
    minutes: Sequence[Minute], warmup: int, rss_at_start: int, other_errors: int = 0
) -> Verdict:
    """The targets: RSS growth from the end of the warm-up to the end < 5%; the highest
    per-minute p99 after the warm-up within 20% of the lowest; no error in any minute
    (warm-up included) nor elsewhere (`other_errors`: chat deliveries, sockets)."""
    after = list(minutes[warmup:])
    baseline = minutes[warmup - 1].rss if warmup else rss_at_start
    growth = (after[-1].rss - baseline) / baseline if after and baseline else None
    p99s = [p for p in (m.p99() for m in after) if p is not None]
    spread = max(p99s) / min(p99s) if p99s and len(p99s) == len(after) and min(p99s) else None
    errors = sum(m.errors.total() for m in minutes) + other_errors
    missed = []
    if growth is None or growth >= TARGET_MEMORY_GROWTH:
        missed.append(f"memory growth < {TARGET_MEMORY_GROWTH:.0%}")
    if spread is None or spread > TARGET_P99_SPREAD:
        missed.append(f"p99 within {TARGET_P99_SPREAD - 1:.0%}")
    if errors:
        missed.append("zero errors")
    return Verdict(growth, spread, errors, missed)


def print_summary(minutes: Sequence[Minute], warmup: int, verdict: Verdict) -> None:
    print()
    kinds = " | ".join(f"{k} /s, p99 ms" for k in MIX)
    print(f"| minute | req/s | p99 ms | {kinds} | errors | RSS MiB |")
    print("|---" * (len(MIX) + 5) + "|")
    for minute in minutes:
        cells = [f"{len(minute.latencies.get(k, [])) / 60:.1f}, {_ms(minute.p99(k))}" for k in MIX]
        label = f"{minute.number}{' (warm-up)' if minute.number <= warmup else ''}"
        print(
            f"| {label} | {len(minute.all_latencies) / 60:.1f} | {_ms(minute.p99())} | "
            + " | ".join(cells)
            + f" | {minute.errors.total()} | {minute.rss / 2**20:.1f} |"
        )
    print()
    growth = "n/a" if verdict.memory_growth is None else f"{verdict.memory_growth:+.1%}"
    spread = "n/a" if verdict.p99_spread is None else f"{verdict.p99_spread:.2f}"
    print(f"Memory growth after the warm-up: {growth} (target < {TARGET_MEMORY_GROWTH:.0%})")
    print(f"p99 max / min after the warm-up: {spread} (target <= {TARGET_P99_SPREAD:.2f})")
    print(f"Errors: {verdict.errors} (target 0)")
    if len(minutes) - warmup < 2:
        print("NOTE: one minute after the warm-up: the p99 spread cannot show a drift.")
    if minutes[-1].in_flight > max(10, minutes[0].in_flight):
        print(
            f"WARNING: {minutes[-1].in_flight} requests were in flight at the end: the server "
            "did not keep up with the rate (the p99 grows with the queue)."
        )
    other = [float(m.cpu.get("other") or 0) for m in minutes]
    if other and statistics.median(other) > 20:
        print(
            f"WARNING: other processes used a median {statistics.median(other):.0f}% CPU; "
            "the machine was not quiet and the p99 spread says more about it than the server."
        )
    print("PASS" if verdict.passed else f"FAIL: missed {', '.join(verdict.missed)}")


# --- the run -------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace, base_url: str, db: BenchDatabase, pid: int) -> int:
    # Class times begin after the soak ends (with an hour to spare): a started class takes
    # no bookings or cancellations.
    first_class = (datetime.now(UTC) + timedelta(minutes=args.minutes + 120)).replace(
        minute=0, second=0, microsecond=0
    )
    warn_without_autovacuum(db.conninfo)
    started = time.monotonic()
    print("Seeding over the API ...")
    data = await seed(base_url, db, first_class)
    print(f"  seeded in {time.monotonic() - started:.0f} s")
    traffic = Traffic(data, random.Random(args.seed))
    received: list[set[int]] = [set() for _ in data.listener_urls]
    socket_failures: Counter[str] = Counter()
    listeners = [
        asyncio.create_task(listen(url, got, socket_failures))
        for url, got in zip(data.listener_urls, received, strict=True)
    ]
    pool = ConnectionPool(base_url)
    meter = Meter(pid, db)
    try:
        await asyncio.sleep(1)  # the sockets subscribed
        rate = args.rate
        ramp_errors: Counter[str] = Counter()
        if rate is None:
            capacity, ramp_errors = await measure_capacity(pool, traffic)
            rate = LOAD_SHARE * capacity
            print(f"  capacity {capacity:.1f} req/s; the soak runs at {LOAD_SHARE:.0%}")
        print(f"Soak: {rate:.1f} req/s for {args.minutes} min, open loop")
        rss_at_start = meter.start()
        minutes = await soak(args, pool, traffic, rate, meter)
        # Messages answered just now may still be on their way to the sockets.
        for _ in range(50):
            if not any(traffic.chat_sent - got for got in received):
                break
            await asyncio.sleep(0.2)
    finally:
        for task in listeners:
            task.cancel()
        pool.close()
    missing = sum(len(traffic.chat_sent - got) for got in received)
    dropped = socket_failures.total()
    print(
        f"\nChat: {len(traffic.chat_sent)} messages sent, each to {len(received)} listeners; "
        f"{missing} deliveries missing, {dropped} socket failures {dict(socket_failures)}"
    )
    if ramp_errors:
        print(f"Errors while measuring the capacity (not judged): {dict(ramp_errors)}")
    verdict = judge(minutes, args.warmup_minutes, rss_at_start, missing + dropped)
    print_summary(minutes, args.warmup_minutes, verdict)
    return 0 if verdict.passed else 1


def warn_without_autovacuum(conninfo: str) -> None:
    """A server with autovacuum off (a CI configuration) never vacuums nor analyzes the
    tables the run fills: plans are chosen for empty tables and updated rows leave dead
    versions behind, costs that grow with the run and that production does not have."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    if row is not None and row[0] != "on":
        print(
            "WARNING: autovacuum is off on this PostgreSQL server: the tables the soak fills "
            "are never analyzed or vacuumed, so some statements get dearer as it runs."
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    describe_machine()
    print(
        f"Settings: {args.minutes} min (warm-up {args.warmup_minutes}), rate "
        f"{args.rate or f'{LOAD_SHARE:.0%} of the capacity'}, seed {args.seed}, server worker "
        f"processes {args.server_workers}, database "
        f"{'at --database-url' if args.database_url else 'embedded PostgreSQL'}"
    )
    # The soak outlives the usual token and sends more chat than a person may.
    ttl = 60 * (args.minutes + 60)
    extra_env = {"ACCESS_TOKEN_TTL_SECONDS": str(ttl), "CHAT_MESSAGES_PER_MINUTE": "1000000"}
    return run_with_server(args, partial(benchmark, args), extra_env)


if __name__ == "__main__":
    sys.exit(main())
