"""Occurrences, weekly series, edits, cancellations and the public timetable."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import event

from studioloop.app import create_app
from studioloop.scheduling import hooks
from tests.conftest import Api, Owner, assert_error
from tests.scheduling.conftest import Studio, tomorrow_at


def _next_weekday(weekday: int, weeks_ahead: int = 1) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


async def test_one_occurrence_with_summaries_and_live_spots(studio: Studio, client) -> None:
    created = await studio.make_class(price=12000)
    occurrence = await studio.schedule_at(created["id"], tomorrow_at(4))
    assert occurrence["capacity"] == 12
    assert occurrence["available_spots"] == 12
    assert occurrence["class"]["name"] == "Morning Vinyasa"
    assert occurrence["class"]["price"] == 12000
    assert occurrence["instructor"]["first_name"] == "Sipho"
    assert occurrence["location"]["name"] == "Main studio"
    assert occurrence["room"]["name"] == "Studio A"
    assert occurrence["local_start"].endswith("+02:00")  # Africa/Johannesburg
    assert (occurrence["booking_window_hours"], occurrence["cancellation_window_hours"]) == (
        168,
        24,
    )

    listing = await client.get(f"{studio.base}/schedules")
    assert [o["id"] for o in listing.json()["items"]] == [occurrence["id"]]


async def test_booking_windows_inherit_occurrence_then_class_then_studio(
    studio: Studio, client
) -> None:
    await client.patch(
        f"/api/v1/tenants/{studio.slug}",
        headers=studio.owner["headers"],
        json={"settings": {"booking_window_hours": 72, "cancellation_window_hours": 12}},
    )
    plain = await studio.make_class(name="Plain")
    own = await studio.make_class(name="Own", booking_window_hours=24, instructor_id=None)
    a = await studio.schedule_at(plain["id"], tomorrow_at(4))
    b = await studio.schedule_at(own["id"], tomorrow_at(8), room_id=None)
    c = await studio.schedule_at(
        own["id"], tomorrow_at(10), room_id=None, cancellation_window_hours=2
    )
    assert (a["booking_window_hours"], a["cancellation_window_hours"]) == (72, 12)
    assert (b["booking_window_hours"], b["cancellation_window_hours"]) == (24, 12)
    assert (c["booking_window_hours"], c["cancellation_window_hours"]) == (24, 2)


async def test_weekly_series_in_johannesburg(studio: Studio, client) -> None:
    created = await studio.make_class()
    monday = _next_weekday(0)
    result = await studio.post(
        "/schedules",
        {
            "class_id": created["id"],
            "local_start_time": "06:00",
            "recurrence": {"weekdays": [0, 2], "starts_on": str(monday), "count": 6},
        },
    )
    assert result["series"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6"
    starts = [o["start_time"] for o in result["occurrences"]]
    assert len(starts) == 6
    assert all(s.endswith("T04:00:00Z") for s in starts)
    assert [datetime.fromisoformat(s).weekday() for s in starts] == [0, 2, 0, 2, 0, 2]

    series = await client.get(f"{studio.base}/schedule-series/{result['series']['id']}")
    assert series.json()["timezone"] == "Africa/Johannesburg"


@pytest.fixture
async def long_horizon_client(database, settings) -> Any:
    app = create_app(settings.model_copy(update={"schedule_horizon_weeks": 40}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


async def test_series_across_london_dst_keeps_the_local_time(
    api: Api, long_horizon_client, owner_db: Owner
) -> None:
    studio = await Studio(api, "london-flow").setup(timezone="Europe/London", currency="GBP")
    created = await studio.make_class()
    response = await long_horizon_client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": created["id"],
            "local_start_time": "18:00",
            "recurrence": {"weekdays": [1], "starts_on": "2027-03-16", "count": 4},
        },
    )
    assert response.status_code == 201, response.text
    occurrences = response.json()["occurrences"]
    assert [o["start_time"] for o in occurrences] == [
        "2027-03-16T18:00:00Z",
        "2027-03-23T18:00:00Z",
        "2027-03-30T17:00:00Z",
        "2027-04-06T17:00:00Z",
    ]
    assert {o["local_start"][11:] for o in occurrences} == {"18:00:00+00:00", "18:00:00+01:00"}


async def test_series_needs_an_end_and_sane_dates(studio: Studio, client, owner_db) -> None:
    created = await studio.make_class()
    base = {"class_id": created["id"], "local_start_time": "06:00"}
    no_end = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={**base, "recurrence": {"weekdays": [0], "starts_on": "2027-01-04"}},
    )
    assert "exactly one of until" in assert_error(no_end, 422, "VALIDATION_ERROR")["message"] + str(
        no_end.json()["error"]["details"]
    )
    backwards = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            **base,
            "recurrence": {"weekdays": [0], "starts_on": "2027-01-04", "until": "2026-12-01"},
        },
    )
    assert_error(backwards, 422, "VALIDATION_ERROR")
    bad_day = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={**base, "recurrence": {"weekdays": [7], "starts_on": "2027-01-04", "count": 3}},
    )
    assert_error(bad_day, 422, "VALIDATION_ERROR")
    both = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": created["id"],
            "start_time": tomorrow_at(6).isoformat(),
            "local_start_time": "06:00",
        },
    )
    assert_error(both, 422, "VALIDATION_ERROR")
    naive = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={"class_id": created["id"], "start_time": "2027-01-04T06:00:00"},
    )
    assert_error(naive, 422, "VALIDATION_ERROR")
    tz = await client.patch(
        f"/api/v1/tenants/{studio.slug}",
        headers=studio.owner["headers"],
        json={"timezone": "Africa/Atlantis"},
    )
    assert_error(tz, 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 0
    assert owner_db.value("SELECT count(*) FROM schedule_series") == 0


async def test_end_before_start_is_refused(studio: Studio, client, owner_db) -> None:
    created = await studio.make_class()
    occurrence = await studio.schedule_at(created["id"], tomorrow_at(6))
    response = await client.patch(
        f"{studio.base}/schedules/{occurrence['id']}",
        headers=studio.owner["headers"],
        json={"end_time": tomorrow_at(5).isoformat()},
    )
    assert_error(response, 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT end_time > start_time FROM class_schedules") is True


async def test_instructor_and_room_cannot_be_double_booked(
    studio: Studio, client, owner_db
) -> None:
    yoga = await studio.make_class()
    await studio.schedule_at(yoga["id"], tomorrow_at(6))
    # Same instructor, overlapping time, another room-less class.
    clash = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": yoga["id"],
            "start_time": tomorrow_at(6, 30).isoformat(),
            "room_id": None,
        },
    )
    # room_id None falls back to the class's room: both constraints apply; either is a clash.
    assert_error(clash, 409, "SCHEDULE_CONFLICT")

    other_teacher = await studio.add_staff("instructor", "Lindiwe")
    spin = await studio.make_class(
        name="Spin",
        class_type="spin",
        room_id=None,
        location_id=None,
        instructor_id=other_teacher["user"]["id"],
    )
    same_room = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": spin["id"],
            "start_time": tomorrow_at(6, 15).isoformat(),
            "room_id": studio.room_id,
        },
    )
    assert assert_error(same_room, 409, "SCHEDULE_CONFLICT")["details"] == {"conflict": "room"}
    back_to_back = await studio.schedule_at(spin["id"], tomorrow_at(7), room_id=studio.room_id)
    assert back_to_back["room"]["name"] == "Studio A"  # touching, not overlapping
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 2


async def test_a_series_that_clashes_names_the_dates_and_creates_nothing(
    studio: Studio, client, owner_db
) -> None:
    yoga = await studio.make_class()
    monday = _next_weekday(0, weeks_ahead=2)
    blocker = datetime(monday.year, monday.month, monday.day, 4, 30, tzinfo=UTC)
    await studio.schedule_at(yoga["id"], blocker)
    response = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": yoga["id"],
            "local_start_time": "06:00",
            "recurrence": {"weekdays": [0], "starts_on": str(_next_weekday(0)), "count": 4},
        },
    )
    error = assert_error(response, 409, "SCHEDULE_CONFLICT")
    assert error["details"]["conflicting_dates"] == [str(monday)]
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 1
    assert owner_db.value("SELECT count(*) FROM schedule_series") == 0


async def test_two_admins_racing_for_one_slot(studio: Studio, client, owner_db) -> None:
    yoga = await studio.make_class()
    start = tomorrow_at(9).isoformat()
    responses = await asyncio.gather(
        *[
            client.post(
                f"{studio.base}/schedules",
                headers=studio.owner["headers"],
                json={"class_id": yoga["id"], "start_time": start},
            )
            for _ in range(4)
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 1


async def test_substitute_teaches_and_is_checked_for_clashes(studio: Studio, client) -> None:
    yoga = await studio.make_class()
    sub = await studio.add_staff("instructor", "Thandi")
    first = await studio.schedule_at(yoga["id"], tomorrow_at(6))
    patched = await client.patch(
        f"{studio.base}/schedules/{first['id']}",
        headers=studio.owner["headers"],
        json={"substitute_instructor_id": sub["user"]["id"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["instructor"]["first_name"] == "Thandi"
    assert patched.json()["substitute"] is True

    by_teacher = await client.get(
        f"{studio.base}/schedules", params={"instructor_id": sub["user"]["id"]}
    )
    assert [o["id"] for o in by_teacher.json()["items"]] == [first["id"]]

    spin = await studio.make_class(
        name="Spin", room_id=None, location_id=None, instructor_id=sub["user"]["id"]
    )
    clash = await client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={"class_id": spin["id"], "start_time": tomorrow_at(6, 30).isoformat()},
    )
    assert assert_error(clash, 409, "SCHEDULE_CONFLICT")["details"] == {"conflict": "instructor"}
    member_as_sub = await client.patch(
        f"{studio.base}/schedules/{first['id']}",
        headers=studio.owner["headers"],
        json={"substitute_instructor_id": studio.member["user"]["id"]},
    )
    assert_error(member_as_sub, 422, "VALIDATION_ERROR")


async def test_cancel_with_reason_calls_the_hook_and_frees_the_slot(studio: Studio, client) -> None:
    yoga = await studio.make_class()
    occurrence = await studio.schedule_at(yoga["id"], tomorrow_at(6))
    seen: list[tuple[str, str]] = []

    async def record(session: Any, cancelled: Any, reason: str) -> None:
        seen.append((str(cancelled.id), reason))

    hooks.on_occurrence_cancelled(record)
    try:
        cancelled = await client.post(
            f"{studio.base}/schedules/{occurrence['id']}/cancel",
            headers=studio.owner["headers"],
            json={"reason": "Instructor is ill"},
        )
    finally:
        hooks.remove_occurrence_cancelled(record)
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancellation_reason"] == "Instructor is ill"
    assert cancelled.json()["available_spots"] == 0
    assert seen == [(occurrence["id"], "Instructor is ill")]

    again = await client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Twice"},
    )
    assert_error(again, 409, "ALREADY_CANCELLED")
    member = await client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.member["headers"],
        json={"reason": "Nope"},
    )
    assert_error(member, 403, "INSUFFICIENT_ROLE")
    # The instructor and room are free again at that time.
    replacement = await studio.schedule_at(yoga["id"], tomorrow_at(6))
    assert replacement["status"] == "scheduled"
    hidden = await client.get(f"{studio.base}/schedules", params={"include_cancelled": "false"})
    assert [o["id"] for o in hidden.json()["items"]] == [replacement["id"]]


async def test_edit_a_series_from_a_date_on(studio: Studio, client, owner_db) -> None:
    yoga = await studio.make_class()
    first_monday = _next_weekday(0)
    created = await studio.post(
        "/schedules",
        {
            "class_id": yoga["id"],
            "local_start_time": "06:00",
            "recurrence": {"weekdays": [0], "starts_on": str(first_monday), "count": 5},
        },
    )
    series_id = created["series"]["id"]
    ids = [o["id"] for o in created["occurrences"]]
    # Week 4 was moved on its own; a series edit must leave it where it is.
    moved = await client.patch(
        f"{studio.base}/schedules/{ids[3]}", headers=studio.owner["headers"], json={"capacity": 8}
    )
    assert moved.status_code == 200

    from_week_3 = first_monday + timedelta(weeks=2)
    edited = await client.patch(
        f"{studio.base}/schedule-series/{series_id}",
        headers=studio.owner["headers"],
        json={"apply_from": str(from_week_3), "local_start_time": "07:30", "capacity": 10},
    )
    assert edited.status_code == 200, edited.text
    rows = owner_db.rows(
        "SELECT series_date, to_char(start_time AT TIME ZONE 'Africa/Johannesburg', "
        "'HH24:MI'), capacity FROM class_schedules ORDER BY series_date"
    )
    assert [(r[1], r[2]) for r in rows] == [
        ("06:00", 12),
        ("06:00", 12),
        ("07:30", 10),
        ("06:00", 8),
        ("07:30", 10),
    ]

    shortened = await client.patch(
        f"{studio.base}/schedule-series/{series_id}",
        headers=studio.owner["headers"],
        json={"apply_from": str(first_monday), "until": str(first_monday + timedelta(weeks=1))},
    )
    assert shortened.status_code == 200, shortened.text
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 2


async def test_the_daily_job_materialises_ahead(studio: Studio, monkeypatch, owner_db) -> None:
    from studioloop.config import get_settings
    from studioloop.scheduling.tasks import materialise_schedules

    yoga = await studio.make_class()
    await studio.post(
        "/schedules",
        {
            "class_id": yoga["id"],
            "local_start_time": "06:00",
            "recurrence": {"weekdays": [0], "starts_on": str(_next_weekday(0)), "count": 30},
        },
    )
    initially = owner_db.value("SELECT count(*) FROM class_schedules")
    assert 11 <= initially <= 13  # 12 weeks ahead

    monkeypatch.setenv("SCHEDULE_HORIZON_WEEKS", "40")
    get_settings.cache_clear()
    try:
        assert await materialise_schedules(timestamp=0) == 30 - initially
        assert await materialise_schedules(timestamp=0) == 0  # running twice is harmless
    finally:
        monkeypatch.delenv("SCHEDULE_HORIZON_WEEKS")
        get_settings.cache_clear()
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 30


async def test_listing_filters_and_pages(studio: Studio, client) -> None:
    yoga = await studio.make_class()
    other = await studio.add_staff("instructor", "Lindiwe")
    spin = await studio.make_class(
        name="Spin",
        class_type="spin",
        room_id=None,
        location_id=None,
        instructor_id=other["user"]["id"],
    )
    for hour in (5, 7, 9):
        await studio.schedule_at(yoga["id"], tomorrow_at(hour))
        await studio.schedule_at(spin["id"], tomorrow_at(hour))
    spins = await client.get(f"{studio.base}/schedules", params={"class_type": "spin"})
    assert {o["class"]["name"] for o in spins.json()["items"]} == {"Spin"}
    at_main = await client.get(
        f"{studio.base}/schedules", params={"location_id": studio.location_id}
    )
    assert len(at_main.json()["items"]) == 3

    page1 = (await client.get(f"{studio.base}/schedules", params={"limit": 4})).json()
    page2 = (
        await client.get(
            f"{studio.base}/schedules", params={"limit": 4, "cursor": page1["next_cursor"]}
        )
    ).json()
    starts = [o["start_time"] for o in page1["items"] + page2["items"]]
    assert len(starts) == 6 and starts == sorted(starts)
    assert page2["next_cursor"] is None

    too_long = await client.get(
        f"{studio.base}/schedules",
        params={"from": "2027-01-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"},
    )
    assert_error(too_long, 422, "VALIDATION_ERROR")
    reversed_range = await client.get(
        f"{studio.base}/schedules",
        params={"from": "2027-01-02T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
    )
    assert_error(reversed_range, 422, "VALIDATION_ERROR")


async def test_schedule_listing_is_one_query_however_many_rows(
    studio: Studio, client, database
) -> None:
    yoga = await studio.make_class(room_id=None, instructor_id=None)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def statements_for_listing() -> int:
        statements.clear()
        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        try:
            response = await client.get(f"{studio.base}/schedules", params={"limit": 200})
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", count)
        assert response.status_code == 200
        return sum("class_schedules" in s for s in statements)

    await studio.schedule_at(yoga["id"], tomorrow_at(5))
    few = await statements_for_listing()
    for hour in range(6, 20):
        await studio.schedule_at(yoga["id"], tomorrow_at(hour))
    many = await statements_for_listing()
    assert few == many == 1


async def test_public_ical_feed(studio: Studio, client) -> None:
    yoga = await studio.make_class()
    kept = await studio.schedule_at(yoga["id"], tomorrow_at(6))
    dropped = await studio.schedule_at(yoga["id"], tomorrow_at(8))
    await client.post(
        f"{studio.base}/schedules/{dropped['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Public holiday"},
    )
    response = await client.get(f"{studio.base}/schedule.ics")
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"{kept['id']}@studioloop", f"{dropped['id']}@studioloop"}
    assert str(events[f"{kept['id']}@studioloop"]["summary"]) == "Morning Vinyasa with Sipho"
    assert str(events[f"{dropped['id']}@studioloop"]["status"]) == "CANCELLED"
    assert events[f"{kept['id']}@studioloop"].decoded("dtstart") == tomorrow_at(6)
    assert_error(
        await client.get("/api/v1/tenants/nope-studio/schedule.ics"), 404, "TENANT_NOT_FOUND"
    )


async def test_without_the_exclusion_constraints_overlaps_get_through(
    studio: Studio, client, owner_db: Owner
) -> None:
    """The control: the service never reads-then-checks, so the database alone decides."""
    definitions = dict(
        owner_db.rows(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'class_schedules'::regclass AND contype = 'x'"
        )
    )
    assert set(definitions) == {
        "ex_class_schedules_instructor_overlap",
        "ex_class_schedules_room_overlap",
    }
    yoga = await studio.make_class()
    try:
        for name in definitions:
            owner_db.rows(f"ALTER TABLE class_schedules DROP CONSTRAINT {name}")
        first = await client.post(
            f"{studio.base}/schedules",
            headers=studio.owner["headers"],
            json={"class_id": yoga["id"], "start_time": tomorrow_at(6).isoformat()},
        )
        second = await client.post(
            f"{studio.base}/schedules",
            headers=studio.owner["headers"],
            json={"class_id": yoga["id"], "start_time": tomorrow_at(6, 30).isoformat()},
        )
        assert (first.status_code, second.status_code) == (201, 201)
    finally:
        owner_db.rows("DELETE FROM class_schedules")
        for name, definition in definitions.items():
            owner_db.rows(f"ALTER TABLE class_schedules ADD CONSTRAINT {name} {definition}")
