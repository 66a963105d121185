"""PostgreSQL restarted while members book through a real `studioloop api` process.

While the server is down the API answers 503 SERVICE_UNAVAILABLE with the error envelope
and Retry-After, at once (a refused connection is not waited on); within 5 s of its return
bookings succeed again; and afterwards no booking was lost or made twice and every credit
ledger still adds up to its balance. A `studioloop worker` on the same database lives
through it too, and every booking's confirmation is written once.

Counting: a request in flight when the server stopped may have committed without its
answer reaching the client (the connection died during COMMIT's reply), so the bookings
stored may exceed the 201 answers by at most the number of requests answered 503 (or not
at all). Every request carries an Idempotency-Key, as a careful client's do; each one that
got no 201 is then sent again with its key, and each must come back 201, the first answer
replayed when it had in fact been stored: one booking per request, never two.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.faults.conftest import signed_up
from tests.faults.processes import PrivatePostgres, Process, api_processes, tail, worker_process

# Each starts processes of its own and times what they do: under pytest-xdist they run on
# one worker, one after another, never two at once.
pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

MEMBERS = 16
CLASSES = 40
CREDITS_EACH = CLASSES
CLIENTS = 5
PAUSE = 0.1  # between one client's bookings: ~50 a second in all
BACK_OFF = 0.25  # after a refusal
DOWN_FOR = 2.5  # seconds PostgreSQL stays stopped
QUICK = 2.0  # a request while it is down is answered within this
RECOVERED_WITHIN = 5.0  # after it is back, bookings succeed again within this
STALLED_AFTER = 3  # JOB_STALLED_AFTER_SECONDS for the worker
STUDIO = "/api/v1/tenants/loop-yoga"


@dataclass
class Attempt:
    member: int
    occurrence: str
    key: str
    sent: float
    done: float = 0.0
    status: int | None = None  # None: no answer at all
    body: dict[str, object] = field(default_factory=dict)
    retry_after: str | None = None

    @property
    def seconds(self) -> float:
        return self.done - self.sent


@dataclass
class Timeline:
    stopping: float = 0.0
    stopped: float = 0.0
    starting: float = 0.0
    up: float = 0.0


async def _seed(
    http: httpx.AsyncClient, database: PrivatePostgres
) -> tuple[list[dict[str, str]], list[str]]:
    """A studio with CLASSES occurrences of one class and MEMBERS members with credits."""
    owner, _ = await signed_up(http, database.conninfo, "owner@example.com", "Thandi")
    created = await http.post(
        "/api/v1/tenants",
        headers=owner,
        json={"name": "Loop Yoga", "slug": "loop-yoga", "email": "hello@loop.example.com"},
    )
    assert created.status_code == 201, created.text
    template = await http.post(
        f"{STUDIO}/classes",
        headers=owner,
        json={"name": "Flow", "class_type": "yoga", "duration_minutes": 30, "max_capacity": 100},
    )
    assert template.status_code == 201, template.text
    series = await http.post(
        f"{STUDIO}/schedules",
        headers=owner,
        json={
            "class_id": template.json()["id"],
            "local_start_time": "07:00",
            "booking_window_hours": 24 * (CLASSES + 3),
            "recurrence": {
                "weekdays": list(range(7)),
                "starts_on": (datetime.now(UTC) + timedelta(days=2)).date().isoformat(),
                "count": CLASSES,
            },
        },
    )
    assert series.status_code == 201, series.text
    occurrences = [occurrence["id"] for occurrence in series.json()["occurrences"]]
    assert len(occurrences) == CLASSES

    members = await _members(database.url, uuid.UUID(created.json()["id"]))
    return members, occurrences


async def _members(owner_url: str, tenant_id: uuid.UUID) -> list[dict[str, str]]:
    """MEMBERS verified members with CREDITS_EACH credits, made through the services in one
    transaction (as tests/booking's rush tests do: sign-ups over HTTP take seconds)."""
    from studioloop.accounts import members as accounts_members, service as accounts_service
    from studioloop.config import get_settings
    from studioloop.core import security
    from studioloop.credits import service as credits_service
    from studioloop.db.engine import create_database
    from studioloop.db.tenancy import enter_tenant_for_transaction

    settings = get_settings()
    database = create_database(settings, owner_url=owner_url)
    shared_hash = security.hash_password(settings, "secret123")
    members = []
    try:
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            for number in range(MEMBERS):
                user = await accounts_service.ensure_verified_user(
                    session,
                    settings,
                    email=f"member{number}@example.com",
                    password="secret123",
                    password_hash=shared_hash,
                    first_name="Member",
                    last_name=str(number),
                )
                await accounts_members.grant_role(session, tenant_id, user.id, "member")
                await credits_service.grant(
                    session,
                    tenant_id,
                    user.id,
                    CREDITS_EACH,
                    source="grant",
                    transaction_type="adjustment",
                    reason="Welcome pack",
                )
                token = security.create_access_token(settings, user.id)
                members.append({"Authorization": f"Bearer {token}"})
            await session.commit()
    finally:
        await database.dispose()
    return members


async def _book(
    http: httpx.AsyncClient, members: list[dict[str, str]], attempt: Attempt
) -> Attempt:
    try:
        response = await http.post(
            "/api/v1/bookings",
            headers={**members[attempt.member], "Idempotency-Key": attempt.key},
            json={"class_schedule_id": attempt.occurrence},
            timeout=15,
        )
    except httpx.HTTPError:
        attempt.status = None
    else:
        attempt.status = response.status_code
        attempt.body = response.json()
        attempt.retry_after = response.headers.get("retry-after")
    attempt.done = time.monotonic()
    return attempt


def _rows(conninfo: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


async def test_bookings_survive_a_postgres_restart(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    database = private_postgres
    workers: list[Process] = []

    def create_database_and_worker() -> None:
        database.create()
        workers.append(
            worker_process(database.url, tmp_path, JOB_STALLED_AFTER_SECONDS=STALLED_AFTER)
        )

    with (
        api_processes(database.url, tmp_path, while_starting=create_database_and_worker) as (api,),
        contextlib.ExitStack() as cleanup,
    ):
        cleanup.callback(lambda: [worker.stop() for worker in workers])
        base = api.base
        try:
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                members, occurrences = await _seed(http, database)
                attempts, timeline = await _book_through_a_restart(
                    http, database, members, occurrences
                )
                stored_before_retries = _rows(
                    database.conninfo, "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
                )[0][0]
                unanswered = [a for a in attempts if a.status != 201]
                gate = asyncio.Semaphore(CLIENTS)

                async def again(earlier: Attempt) -> Attempt:
                    async with gate:
                        attempt = Attempt(
                            earlier.member, earlier.occurrence, earlier.key, time.monotonic()
                        )
                        return await _book(http, members, attempt)

                retried = await asyncio.gather(*(again(a) for a in unanswered))
            # The worker lived through the restart and announced every booking once.
            await asyncio.to_thread(_wait_for_announcements, database.conninfo)
            assert workers[0].popen.poll() is None, "the worker ended with the restart"
        except BaseException:
            print(tail(api.log))
            print(tail(database.log))
            print(tail(workers[0].log) if workers else "")
            raise

    _check_answers_while_down(attempts, timeline)
    _check_recovery(attempts, timeline)

    created = [a for a in attempts if a.status == 201]
    assert len(created) >= 10, "too few bookings before and after the restart to tell anything"
    assert all(a.status in (201, 503, None) for a in attempts), {
        (a.status, str(a.body)) for a in attempts if a.status not in (201, 503, None)
    }
    # Stored = answered 201 + some of those whose answer was lost (at most all of them).
    assert isinstance(stored_before_retries, int)
    assert len(created) <= stored_before_retries <= len(created) + len(unanswered)

    # Every request sent again with its key: one booking each, the first one's when stored.
    assert all(r.status == 201 for r in retried), [(r.status, r.body) for r in retried]
    answered = {str(a.body["id"]) for a in created} | {str(r.body["id"]) for r in retried}
    assert len(answered) == len(attempts)
    stored = _rows(
        database.conninfo,
        "SELECT id::text, user_id::text, class_schedule_id::text FROM bookings "
        "WHERE status = 'confirmed'",
    )
    assert {row[0] for row in stored} == answered, "a booking lost, or one nobody was told of"
    pairs = [(row[1], row[2]) for row in stored]
    assert len(pairs) == len(set(pairs)), "a member booked twice into one class"
    _check_ledgers(database.conninfo, len(stored))
    # Each booking's confirmation written once (its job ran to completion once or more).
    announced = _rows(
        database.conninfo,
        "SELECT dedup_key FROM notifications WHERE event = 'booking_confirmed'",
    )
    assert sorted(row[0] for row in announced) == sorted(
        f"booking_confirmed:{row[0]}" for row in stored
    )


def _wait_for_announcements(conninfo: str, timeout: float = 60) -> None:
    """Until every booking's confirmation is written and delivered (recorded: no SMTP)."""
    deadline = time.monotonic() + timeout
    while True:
        (waiting,) = _rows(
            conninfo,
            "SELECT count(*) FROM bookings b WHERE b.status = 'confirmed' AND NOT EXISTS ("
            "SELECT FROM notifications n WHERE n.dedup_key = 'booking_confirmed:' || b.id "
            "AND n.status <> 'queued')",
        )[0]
        if waiting == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{waiting} bookings still unannounced after {timeout} s")
        time.sleep(0.2)


async def _book_through_a_restart(
    http: httpx.AsyncClient,
    database: PrivatePostgres,
    members: list[dict[str, str]],
    occurrences: list[str],
) -> tuple[list[Attempt], Timeline]:
    """CLIENTS clients book (each request a new member-class pair) while PostgreSQL is
    stopped (fast shutdown) for DOWN_FOR seconds and started again; until a second after
    the first booking succeeds again (or RECOVERED_WITHIN has passed)."""
    pairs = iter([(m, o) for o in occurrences for m in range(len(members))])
    attempts: list[Attempt] = []
    timeline = Timeline()
    finished = asyncio.Event()
    recovered = asyncio.Event()

    async def client() -> None:
        while not finished.is_set():
            pair = next(pairs, None)
            if pair is None:
                return
            attempt = Attempt(pair[0], pair[1], str(uuid.uuid4()), sent=time.monotonic())
            attempts.append(await _book(http, members, attempt))
            if timeline.up and attempt.sent >= timeline.up and attempt.status == 201:
                recovered.set()
            # Refused: back off a little (a real client would wait Retry-After).
            await asyncio.sleep(PAUSE if attempt.status == 201 else BACK_OFF)

    clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    try:
        await asyncio.sleep(1.0)
        timeline.stopping = time.monotonic()
        await asyncio.to_thread(database.stop, "fast")
        timeline.stopped = time.monotonic()
        # Liveness stays, readiness goes: a load balancer may stop sending requests here.
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).status_code == 503
        await asyncio.sleep(DOWN_FOR)
        timeline.starting = time.monotonic()
        await asyncio.to_thread(database.start)
        timeline.up = time.monotonic()  # pg_ctl -w: accepting connections
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recovered.wait(), RECOVERED_WITHIN)
        await asyncio.sleep(1.0)
    finally:
        finished.set()
        await asyncio.gather(*clients)
    return attempts, timeline


def _check_answers_while_down(attempts: list[Attempt], timeline: Timeline) -> None:
    while_down = [a for a in attempts if a.sent >= timeline.stopped and a.done <= timeline.starting]
    assert len(while_down) >= 10, "the clients sent too little while PostgreSQL was down"
    for attempt in while_down:
        assert attempt.status == 503, (attempt.status, attempt.body)
        error = attempt.body["error"]
        assert isinstance(error, dict)
        assert error["code"] == "SERVICE_UNAVAILABLE", error
        assert error["request_id"] and error["message"]
        assert attempt.retry_after is not None and int(attempt.retry_after) >= 1
    slowest = max(a.seconds for a in while_down)
    assert slowest < QUICK, f"a request took {slowest:.2f} s while PostgreSQL was down"


def _check_recovery(attempts: list[Attempt], timeline: Timeline) -> None:
    """Bookings succeed within RECOVERED_WITHIN of the server's return, and from the first
    success on every one does (the pool does not hand out dead connections any more)."""
    after = [a for a in attempts if a.sent >= timeline.up]
    first_success = min((a.done for a in after if a.status == 201), default=None)
    assert first_success is not None, "no booking succeeded after PostgreSQL came back"
    assert first_success - timeline.up < RECOVERED_WITHIN
    settled = [a for a in after if a.sent >= first_success]
    assert len(settled) >= CLIENTS, "the clients sent too little once the API recovered"
    assert all(a.status == 201 for a in settled), [(a.status, a.body) for a in settled]


def _check_ledgers(conninfo: str, bookings: int) -> None:
    # Each account's balance is the sum of its ledger and of its lots' remaining credits.
    assert (
        _rows(
            conninfo,
            "SELECT a.id FROM credit_accounts a LEFT JOIN credit_transactions t "
            "ON t.account_id = a.id GROUP BY a.id, a.balance "
            "HAVING a.balance <> coalesce(sum(t.amount), 0)",
        )
        == []
    )
    assert (
        _rows(
            conninfo,
            "SELECT a.id FROM credit_accounts a LEFT JOIN credit_lots l "
            "ON l.account_id = a.id GROUP BY a.id, a.balance "
            "HAVING a.balance <> coalesce(sum(l.remaining), 0)",
        )
        == []
    )
    # One credit left each account per booking stored: no debit without its booking.
    spent = _rows(
        conninfo,
        f"SELECT coalesce(sum({CREDITS_EACH} - balance), 0) FROM credit_accounts",
    )[0][0]
    assert spent == bookings
