"""The rush gate answers CLASS_FULL at the door for a class just seen full, and only when
that is exactly what the booking endpoint would answer (booking/rush_gate.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import pytest
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from studioloop.accounts.dependencies import bearer_scheme, get_token_claims
from studioloop.booking import rush_gate
from studioloop.core.security import AccessClaims
from tests.booking.conftest import BookingStudio
from tests.conftest import Owner, assert_error


@pytest.fixture
def endpoint_calls(app: Any) -> Iterator[list[str]]:
    """Counts the requests that reach the booking endpoint (through FastAPI's own
    dependency override, delegating to the real dependency): what the gate answered
    never gets there."""
    calls: list[str] = []

    async def counted(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> AccessClaims:
        calls.append(request.url.path)
        return await get_token_claims(request, credentials)

    app.dependency_overrides[get_token_claims] = counted
    yield calls
    app.dependency_overrides.pop(get_token_claims, None)


async def full_class(studio: BookingStudio) -> tuple[dict[str, Any], dict[str, Any]]:
    """A one-seat class, taken; the first refusal makes this process remember it full."""
    occurrence = await studio.occurrence(capacity=1)
    taker = await studio.new_member(credits=2)
    assert (await studio.book(taker, occurrence["id"])).status_code == 201
    first_refused = await studio.new_member(credits=2)
    assert_error(await studio.book(first_refused, occurrence["id"]), 409, "CLASS_FULL")
    assert rush_gate.seems_full(uuid.UUID(occurrence["id"]))
    return occurrence, taker


async def test_the_gate_answers_class_full_itself(
    studio: BookingStudio, endpoint_calls: list[str], owner_db: Owner
) -> None:
    occurrence, _ = await full_class(studio)
    before = len(endpoint_calls)
    late = await studio.new_member(credits=2)
    full = assert_error(await studio.book(late, occurrence["id"]), 409, "CLASS_FULL")
    assert full["details"] == {"capacity": 1} and full["request_id"]
    assert len(endpoint_calls) == before  # answered at the door
    assert owner_db.value("SELECT count(*) FROM bookings") == 1
    assert await studio.balance(late) == 2


async def test_everything_else_goes_to_the_endpoint_with_its_body(
    studio: BookingStudio, client, endpoint_calls: list[str], owner_db: Owner
) -> None:
    occurrence, taker = await full_class(studio)
    # Their own place: ALREADY_BOOKED, as the endpoint says, not CLASS_FULL.
    assert_error(await studio.book(taker, occurrence["id"]), 409, "ALREADY_BOOKED")
    # The waitlist, a keyed request, a studio named by header: all the endpoint's.
    member = await studio.new_member(credits=2)
    waiting = await studio.book(member, occurrence["id"], join_waitlist=True)
    assert (waiting.status_code, waiting.json()["status"]) == (201, "waitlisted")
    keyed = await client.post(
        "/api/v1/bookings",
        headers={**(await studio.new_member())["headers"], "Idempotency-Key": "k-1"},
        json={"class_schedule_id": occurrence["id"]},
    )
    assert_error(keyed, 409, "CLASS_FULL")
    # A malformed body is refused by validation, as always.
    assert_error(
        await client.post(
            "/api/v1/bookings", headers=member["headers"], json={"class_schedule_id": "nope"}
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert_error(
        await client.post("/api/v1/bookings", json={"class_schedule_id": occurrence["id"]}),
        401,
        "UNAUTHORIZED",
    )
    assert len(endpoint_calls) >= 4


async def test_a_clash_a_cancelled_class_and_a_closed_account_are_told_so(
    studio: BookingStudio, client, owner_db: Owner
) -> None:
    occurrence, _ = await full_class(studio)
    # A member booked into a class at the same time hears about the clash first.
    member = await studio.new_member(credits=4)
    other_class = await studio.make_class(
        max_capacity=5, room_id=None, location_id=None, instructor_id=None
    )
    same_time = await studio.schedule_at(
        other_class["id"], datetime.fromisoformat(occurrence["start_time"])
    )
    assert (await studio.book(member, same_time["id"])).status_code == 201
    assert_error(await studio.book(member, occurrence["id"]), 409, "SCHEDULE_CONFLICT")
    # A closed account: 401, not CLASS_FULL.
    banned = await studio.new_member(credits=1)
    owner_db.rows("UPDATE users SET status = 'banned' WHERE id = %s", banned["user"]["id"])
    assert_error(await studio.book(banned, occurrence["id"]), 401, "INVALID_TOKEN")
    # The studio cancels the class: CLASS_CANCELLED at once, though it was remembered full.
    cancelled = await client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Instructor ill"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert_error(
        await studio.book(await studio.new_member(credits=1), occurrence["id"]),
        409,
        "CLASS_CANCELLED",
    )


async def test_a_freed_seat_is_offered_at_once(studio: BookingStudio, client) -> None:
    occurrence, taker = await full_class(studio)
    mine = (await client.get("/api/v1/bookings", headers=taker["headers"])).json()[0]
    cancelled = await client.delete(f"/api/v1/bookings/{mine['id']}", headers=taker["headers"])
    assert cancelled.status_code == 200, cancelled.text
    newcomer = await studio.new_member(credits=1)
    booked = await studio.book(newcomer, occurrence["id"])
    assert (booked.status_code, booked.json()["status"]) == (201, "confirmed")


async def test_an_oversized_body_is_refused_at_the_door_too(
    studio: BookingStudio, client, settings
) -> None:
    occurrence, _ = await full_class(studio)
    member = await studio.new_member(credits=1)

    async def stream():  # no Content-Length: the gate reads it, counted on the way
        for _ in range(settings.max_request_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = await client.post(
        "/api/v1/bookings",
        content=stream(),
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    full = await studio.book(member, occurrence["id"])
    assert_error(full, 409, "CLASS_FULL")


def test_the_memory_of_a_full_class_fades(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two seconds after the last sighting the gate stops reading bookings' bodies."""
    clock = [1000.0]
    monkeypatch.setattr(rush_gate.time, "monotonic", lambda: clock[0])
    occurrence = uuid.uuid4()
    rush_gate.remember_full(occurrence)
    assert rush_gate.any_remembered() and rush_gate.seems_full(occurrence)
    clock[0] += rush_gate.REMEMBER_FULL_SECONDS - 0.1
    assert rush_gate.seems_full(occurrence)
    clock[0] += 0.2
    assert not rush_gate.seems_full(occurrence)
    rush_gate.remember_full(occurrence)
    clock[0] += rush_gate.REMEMBER_FULL_SECONDS
    assert not rush_gate.any_remembered()
    assert not rush_gate.seems_full(occurrence)


async def test_bodies_the_endpoint_would_refuse_get_its_refusal(
    studio: BookingStudio, client
) -> None:
    """Not sent as JSON, an id in an unusual spelling, JSON nested past Python's stack:
    the endpoint's 422 or 400, never the gate's 409 (or a 500)."""
    occurrence, _ = await full_class(studio)
    member = await studio.new_member(credits=1)
    body = json.dumps({"class_schedule_id": occurrence["id"]}).encode()
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = dict(member["headers"])
        if content_type:
            headers["Content-Type"] = content_type
        response = await client.post("/api/v1/bookings", content=body, headers=headers)
        assert response.status_code == 422, (content_type, response.text)
    plain = occurrence["id"].replace("-", "")
    odd = await studio.book(member, f"{plain[:3]}-{plain[3:10]}-{plain[10:]}")
    assert_error(odd, 422, "VALIDATION_ERROR")  # uuid.UUID would take it; the API does not
    nested = await client.post(
        "/api/v1/bookings",
        content=b"[" * 5000 + b"]" * 5000,
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert nested.status_code == 400, nested.text
    # Sent as JSON with a charset, the plain body is still answered at the door.
    assert_error(
        await client.post(
            "/api/v1/bookings",
            content=body,
            headers={**member["headers"], "Content-Type": "application/json; charset=utf-8"},
        ),
        409,
        "CLASS_FULL",
    )


async def test_the_door_answers_cross_origin_widgets_too(
    studio: BookingStudio, database, settings
) -> None:
    """A studio's booking widget on its own site reads the answer: the gate sits inside
    the CORS middleware."""
    import httpx

    from studioloop.app import create_app

    occurrence, _ = await full_class(studio)
    member = await studio.new_member(credits=1)
    widget_app = create_app(settings.model_copy(update={"cors_origins": ["https://widget.test"]}))
    transport = httpx.ASGITransport(app=widget_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as widget:
        response = await widget.post(
            "/api/v1/bookings",
            headers={**member["headers"], "Origin": "https://widget.test"},
            json={"class_schedule_id": occurrence["id"]},
        )
    assert_error(response, 409, "CLASS_FULL")
    assert response.headers["access-control-allow-origin"] == "https://widget.test"
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"]


async def test_when_the_door_cannot_read_the_booking_answers(
    studio: BookingStudio, database, endpoint_calls: list[str]
) -> None:
    """The gate's pool is closed under it (as when the database restarts): the request
    goes on to the endpoint, which answers, instead of failing."""
    occurrence, _ = await full_class(studio)
    pool = await database.autocommit_pool()
    await pool.close()
    try:
        before = len(endpoint_calls)
        late = await studio.new_member(credits=1)
        assert_error(await studio.book(late, occurrence["id"]), 409, "CLASS_FULL")
        assert len(endpoint_calls) == before + 1
    finally:
        database._autocommit_pool = None  # the next use opens a new one
