"""Scale-out on one machine: two `studioloop api` processes behind a round-robin balancer,
one `studioloop worker` and Redis behave as one installation. A chat message posted on one
process reaches sockets on the other, rate limits are counted once for both, each job
runs exactly once and only on the worker, and a sign-in on one process holds on the
other."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from email.utils import parseaddr
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from studioloop.config import Settings
from studioloop.db.engine import Database
from tests.booking.conftest import BookingStudio
from tests.conftest import PASSWORD, Api, Owner, assert_error
from tests.scaleout.conftest import SENSITIVE_LIMIT, Installation
from tests.scaleout.support import wait_for

# Under pytest-xdist, the module's tests go to one worker: one installation for them all.
pytestmark = pytest.mark.xdist_group("scaleout-processes")

_studios = itertools.count(1)


def slug(kind: str) -> str:
    # A studio name of its own per test: every process caches tenant lookups.
    return f"{kind}-{next(_studios)}"


def one_request_per_connection(base: str, caller: dict[str, str]) -> httpx.AsyncClient:
    """A client that opens a new connection for every request, so a balancer that picks
    a backend per connection picks one per request."""
    return httpx.AsyncClient(
        base_url=base,
        headers=caller,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def _next(socket: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next event of this kind whose message matches (others are skipped)."""
    async with asyncio.timeout(15):
        while True:
            event = json.loads(await socket.recv())
            message = event.get("message") or {}
            if event["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return event


def _ws(base: str, room_id: str, token: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"{base.replace('http', 'ws')}/api/v1/chat/rooms/{room_id}/websocket?{query}"


async def test_a_chat_message_posted_on_one_process_reaches_sockets_on_the_other(
    installation: Installation, owner_db: Owner, caller: dict[str, str]
) -> None:
    one, two = installation.apis
    balancer = installation.balancer
    async with httpx.AsyncClient(base_url=one, headers=caller, timeout=30) as http:
        api = Api(http, owner_db)
        owner = await api.signup(first_name="Thandi")
        studio = slug("chat")
        await api.create_tenant(owner, studio)
        base = f"/api/v1/tenants/{studio}"
        guest = await http.post(f"{base}/guest/token", json={"name": "Thabo", "email": "t@x.io"})
        assert guest.status_code == 201, guest.text
        guest_token = guest.json()["token"]
        as_guest = {"Authorization": f"Bearer {guest_token}"}
        room = await http.post(f"{base}/chat/rooms", headers=as_guest, json={"subject": "Hi"})
        assert room.status_code == 201, room.text
        room_id = room.json()["id"]

        before = list(balancer.connections)
        async with (
            # The visitor's two tabs, through the balancer: one on each process.
            connect(_ws(balancer.url, room_id, guest_token)) as tab_one,
            connect(_ws(balancer.url, room_id, guest_token)) as tab_two,
            # The studio's inbox, on the second process.
            connect(_ws(two, room_id, owner["access_token"], tenant=studio)) as inbox,
        ):
            assert [now - then for now, then in zip(balancer.connections, before, strict=True)] == [
                1,
                1,
            ]
            said = await http.post(
                f"{base}/chat/rooms/{room_id}/messages",
                headers=as_guest,
                json={"body": "Do you rent towels?"},
            )
            assert said.status_code == 201, said.text  # stored by the first process
            heard = await _next(inbox, "message", is_staff=False)
            assert heard["message"]["body"] == "Do you rent towels?"

            answer = await http.post(
                f"{base}/chat/rooms/{room_id}/messages",
                headers=owner["headers"],
                json={"body": "Yes, R10 a towel."},
            )
            assert answer.status_code == 201, answer.text
            for tab in (tab_one, tab_two):
                assert (await _next(tab, "message", is_staff=True))["message"]["body"] == (
                    "Yes, R10 a towel."
                )


async def test_rate_limits_are_counted_once_for_all_processes(
    installation: Installation, caller: dict[str, str]
) -> None:
    one, two = installation.apis
    async with httpx.AsyncClient(headers=caller, timeout=30) as http:
        answers = [
            await http.post(
                f"{base}/api/v1/auth/login",
                json={"email": "nobody@example.com", "password": "not-the-password"},
            )
            for base in [one, two] * (SENSITIVE_LIMIT // 2 + 1)
        ]
    assert [a.status_code for a in answers] == [401] * SENSITIVE_LIMIT + [429, 429]
    for refused in answers[SENSITIVE_LIMIT:]:
        assert_error(refused, 429, "RATE_LIMITED")
        assert 0 < int(refused.headers["retry-after"]) <= 60


async def test_each_job_runs_once_on_the_worker_and_never_on_an_api_process(
    installation: Installation,
    owner_db: Owner,
    database: Database,
    settings: Settings,
    caller: dict[str, str],
) -> None:
    bookings = 8
    balancer = installation.balancer
    async with one_request_per_connection(balancer.url, caller) as http:
        studio = await BookingStudio(Api(http, owner_db), slug("jobs")).setup()
        members = await studio.many_members(database, settings, bookings, credits=2)
        occurrence = await studio.occurrence(capacity=bookings)
        before = list(balancer.connections)
        for member in members:
            booked = await studio.book(member, occurrence["id"])
            assert booked.status_code == 201, booked.text
    # Round robin: each process took half of the bookings.
    assert [now - then for now, then in zip(balancer.connections, before, strict=True)] == [
        bookings // 2
    ] * 2

    def announcements(status: str) -> int:
        return int(
            owner_db.value(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE %s AND status = %s",
                "%announce_booking",
                status,
            )
        )

    # The api processes defer jobs and never run them: nothing moves without a worker.
    await asyncio.sleep(1.5)
    assert announcements("todo") == bookings

    def confirmations() -> list[str]:
        return [
            parseaddr(m["To"])[1]
            for m in installation.smtp.messages
            if m["Subject"].startswith("Booked:")
        ]

    worker = installation.worker
    worker.release()
    try:
        wait_for(lambda: len(confirmations()) >= bookings, 60, worker.output())
        wait_for(
            lambda: (
                not owner_db.value(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                )
            ),
            30,
            "the queue did not drain",
        )
    finally:
        worker.stop()
    assert sorted(confirmations()) == sorted(m["email"] for m in members)
    assert announcements("succeeded") == bookings


async def test_a_sign_in_on_one_process_holds_on_the_other(
    installation: Installation, owner_db: Owner, caller: dict[str, str]
) -> None:
    one, two = installation.apis
    async with httpx.AsyncClient(base_url=one, headers=caller, timeout=30) as http:
        person = await Api(http, owner_db).signup(first_name="Lerato")
    email = person["email"]
    async with httpx.AsyncClient(headers=caller, timeout=30) as http:
        # API tokens: signed in on the first process, used and refreshed on the second.
        signed_in = await http.post(
            f"{one}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        tokens = signed_in.json()
        profile = await http.get(
            f"{two}/api/v1/users/profile",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert profile.status_code == 200 and profile.json()["email"] == email
        refreshed = await http.post(
            f"{two}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        renewed = refreshed.json()
        profile = await http.get(
            f"{one}/api/v1/users/profile",
            headers={"Authorization": f"Bearer {renewed['access_token']}"},
        )
        assert profile.status_code == 200
        # The used refresh token, replayed on the first process: the whole sign-in is
        # revoked, on both (refresh tokens live in the database, not in a process).
        replayed = await http.post(
            f"{one}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert replayed.status_code == 401
        again = await http.post(
            f"{two}/api/v1/auth/refresh", json={"refresh_token": renewed["refresh_token"]}
        )
        assert again.status_code == 401

        # The web session: the form from the second process, signed in on the first, the
        # session cookie good on the second.
        form = await http.get(f"{two}/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        login = await http.post(
            f"{one}/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert login.status_code == 303, login.text
        assert "sl_session" in http.cookies
        page = await http.get(f"{two}/my/profile")  # signed out: a redirect to /login
        assert page.status_code == 200, page.text
        assert "Lerato" in page.text
