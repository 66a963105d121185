"""A streaming read replica serves marketplace search and the public timetables, within
the stated staleness (REPLICA_MAX_LAG_SECONDS, checked once a second), with row-level
security as on the primary; writes stay on the primary; a replica too far behind is not
read from.

The test has its own primary and replica clusters (tests/scaleout/pgpair.py) and a real
`studioloop api` process configured with both; it never touches the suite's database.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import text

from studioloop.config import Settings
from studioloop.db import migrate
from studioloop.db.engine import create_database
from tests.conftest import Api, Owner
from tests.fakes.smtp import free_port
from tests.scaleout.pgpair import Cluster, primary_and_replica
from tests.scaleout.support import StudioLoopProcess, environment, wait_until_up
from tests.scheduling.conftest import Studio

# Under pytest-xdist, the module's tests go to one worker: one pair of clusters for them.
pytestmark = pytest.mark.xdist_group("scaleout-replica")

MAX_LAG = 5.0
# The lag is measured at most once a second per process (db/replica.py).
CHECK_INTERVAL = 1.0


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[Cluster, Cluster, str]]:
    """The primary and the replica, and `studioloop api` configured with both. Starting
    the process is the slow part, so it starts first: it needs the databases only for
    requests (its listeners retry until the primary is up)."""
    primary_port, replica_port = free_port(), free_port()
    api = StudioLoopProcess(
        ["api", "--port", str(api_port := free_port())],
        environment(
            f"postgresql://postgres@127.0.0.1:{primary_port}/postgres",
            DATABASE_REPLICA_URL=f"postgresql://postgres@127.0.0.1:{replica_port}/postgres",
            REPLICA_MAX_LAG_SECONDS=str(MAX_LAG),
        ),
    )
    try:
        with primary_and_replica(primary_port, replica_port) as (primary, replica):
            try:
                migrate.upgrade(primary.url.replace("postgresql://", "postgresql+psycopg://"))
                base = f"http://127.0.0.1:{api_port}"
                wait_until_up(base, api)
                yield primary, replica, base
            finally:
                api.stop()  # while its databases are up: it shuts down at once
    finally:
        api.stop()


@pytest.fixture(scope="module")
def clusters(replicated: tuple[Cluster, Cluster, str]) -> tuple[Cluster, Cluster]:
    return replicated[0], replicated[1]


@pytest.fixture(scope="module")
def server(replicated: tuple[Cluster, Cluster, str]) -> str:
    return replicated[2]


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


def wait_for_replay(primary: Cluster, replica: Cluster, timeout: float = 15) -> float:
    """Until the replica has replayed everything the primary has written; how long that
    took."""
    started = time.monotonic()
    position = primary.value("SELECT pg_current_wal_insert_lsn()::text")
    while not replica.value("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", position):
        assert time.monotonic() - started < timeout, "the replica did not catch up"
        time.sleep(0.05)
    return time.monotonic() - started


def commit_on_primary(primary: Cluster) -> None:
    """A commit record (the replica's replay timestamp moves to now once replayed)."""
    with psycopg.connect(primary.url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT txid_current()")


async def timetable_ids(http: httpx.AsyncClient, slug: str) -> set[str]:
    start = datetime.now(UTC).replace(microsecond=0)
    response = await http.get(
        f"/api/v1/tenants/{slug}/schedules",
        params={"from": start.isoformat(), "to": (start + timedelta(days=14)).isoformat()},
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def search_ids(http: httpx.AsyncClient) -> set[str]:
    response = await http.get(
        "/api/v1/marketplace/search", params={"lat": -33.92, "lng": 18.42, "radius_km": 20}
    )
    assert response.status_code == 200, response.text
    return {item["class_schedule_id"] for item in response.json()["items"]}


async def open_studio(api: Api, slug: str) -> Studio:
    """A studio with an owner and one location in Cape Town (no staff: not needed here)."""
    studio = Studio(api, slug)
    studio.owner = await api.signup(first_name="Owner")
    studio.tenant = await api.create_tenant(studio.owner, slug)
    location = await studio.post(
        "/locations", {"name": "Main studio", "latitude": -33.92, "longitude": 18.42}
    )
    studio.location_id = location["id"]
    return studio


async def add_class(studio: Studio, name: str, hours_ahead: int) -> dict[str, Any]:
    """A class of this name at the studio's location, once, `hours_ahead` from now."""
    template = await studio.post(
        "/classes",
        {
            "name": name,
            "class_type": "yoga",
            "duration_minutes": 60,
            "max_capacity": 12,
            "location_id": studio.location_id,
        },
    )
    start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(microsecond=0)
    occurrence = await studio.schedule_at(template["id"], start)
    occurrence["name"] = name
    return occurrence


async def public_reads_show(
    http: httpx.AsyncClient, studio: Studio, occurrence: dict[str, Any]
) -> tuple[bool, bool]:
    """Whether the .ics feed and the public timetable page (its week) show this class."""
    ics = await http.get(f"{studio.base}/schedule.ics")
    assert ics.status_code == 200, ics.text
    start = datetime.fromisoformat(occurrence["start_time"])
    week = start.astimezone(ZoneInfo(studio.tenant["timezone"])).date().isoformat()
    page = await http.get(f"/s/{studio.slug}/timetable", params={"week": week})
    assert page.status_code == 200, page.text
    return occurrence["name"] in ics.text, occurrence["name"] in page.text


def app_role_rows(replica: Cluster, tenant_id: str | None) -> int:
    """Class occurrences the app role sees on the replica, in a transaction with (or
    without) a tenant set, exactly as a request does it."""
    with psycopg.connect(replica.url) as conn:
        conn.execute("SET ROLE studioloop_app")
        if tenant_id:
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
        count = conn.execute("SELECT count(*) FROM class_schedules").fetchone()
        conn.rollback()
    assert count is not None
    return int(count[0])


async def test_public_reads_come_from_the_replica_within_the_stated_staleness(
    clusters: tuple[Cluster, Cluster], http: httpx.AsyncClient
) -> None:
    primary, replica = clusters
    api = Api(http, Owner(primary.url))
    yoga = await open_studio(api, "replica-yoga")
    first = await add_class(yoga, "Sunrise Flow", 30)
    gym = await open_studio(api, "replica-gym")
    elsewhere = await add_class(gym, "Kettlebells", 31)
    newcomer = await api.signup(first_name="Owner")  # opens a studio during the pause
    wait_for_replay(primary, replica)

    # Row-level security holds on the standby: set_config works in its read-only
    # transactions, and without a tenant the app role sees no tenant rows at all.
    assert app_role_rows(replica, None) == 0
    assert app_role_rows(replica, yoga.tenant["id"]) == 1
    assert await timetable_ids(http, yoga.slug) == {first["id"]}
    assert {first["id"], elsewhere["id"]} <= await search_ids(http)

    # Replay paused just after a commit: the replica falls behind from now on.
    commit_on_primary(primary)
    wait_for_replay(primary, replica)
    replica.execute("SELECT pg_wal_replay_pause()")
    paused_at = time.monotonic()
    try:
        # A write with the replica configured goes to the primary, as every write does.
        second = await add_class(yoga, "Paused Pilates", 32)
        assert primary.value("SELECT count(*) FROM class_schedules") == 3

        # Still within the bound: the public reads come from the replica, which does not
        # have the new class yet.
        assert second["id"] not in await timetable_ids(http, yoga.slug)
        assert second["id"] not in await search_ids(http)
        assert await public_reads_show(http, yoga, second) == (False, False)
        assert await public_reads_show(http, yoga, first) == (True, True)
        # A studio the replica does not know yet: its name is looked up on the primary
        # (a lookup on the replica would answer 404 and leave that in the process's
        # tenant cache), its timetable read on the replica, empty so far.
        await api.create_tenant(newcomer, "replica-new")
        assert await timetable_ids(http, "replica-new") == set()
        assert time.monotonic() - paused_at < MAX_LAG, "too slow to tell the replica read"

        # Past the bound: the same reads fall back to the primary and show it, although
        # the replica still has not got it.
        await asyncio.sleep(max(0.0, paused_at + MAX_LAG + CHECK_INTERVAL + 0.2 - time.monotonic()))
        assert second["id"] in await timetable_ids(http, yoga.slug)
        assert second["id"] in await search_ids(http)
        assert await public_reads_show(http, yoga, second) == (True, True)
        assert app_role_rows(replica, yoga.tenant["id"]) == 1
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")

    # Replaying again, a new class reaches the replica, and the public reads, well within
    # the stated staleness.
    wait_for_replay(primary, replica)
    written = time.monotonic()
    third = await add_class(yoga, "Evening Yin", 34)
    while app_role_rows(replica, yoga.tenant["id"]) < 3 or third["id"] not in await timetable_ids(
        http, yoga.slug
    ):
        assert time.monotonic() - written < MAX_LAG + CHECK_INTERVAL
        await asyncio.sleep(0.1)


async def test_an_unreachable_replica_is_not_read_from(settings: Settings, owner_url: str) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    database = create_database(
        settings.model_copy(update={"database_replica_url": nowhere}), owner_url=owner_url
    )
    try:
        started = time.monotonic()
        sessionmaker, on_replica = await database.read_sessionmaker()
        assert not on_replica and sessionmaker is database.sessionmaker
        assert database.replica is not None and database.replica.lag_seconds == math.inf
        assert time.monotonic() - started < 3
        async with sessionmaker() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()
