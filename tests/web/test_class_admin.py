"""Classes and timetable for owners: places on the forms, a class's teacher and level, its
upcoming dates with their rosters, cancelling a date and sending a substitute."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx

from tests.booking.conftest import BookingStudio
from tests.conftest import Owner
from tests.web.test_admin_pages import _as, studio  # noqa: F401  (fixtures)


async def test_places_on_the_class_and_timetable_forms(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/classes")
    page = (await web.get("/s/loop-yoga/admin/classes")).text
    assert "Main studio · Studio A" in page
    assert "people searching the marketplace by distance will not find this class" in page
    form = {
        "csrf_token": token,
        "name": "Sunrise Flow",
        "class_type": "yoga",
        "duration_minutes": "60",
        "max_capacity": "12",
        "credits_required": "1",
    }
    # A room that is not in the chosen location, and an id that is no id: refused, nothing made.
    other = await studio.post("/locations", {"name": "Beach", "address": {"city": "Muizenberg"}})
    wrong = await web.post(
        "/s/loop-yoga/admin/classes",
        data={**form, "location_id": other["id"], "room_id": studio.room_id},
    )
    assert wrong.status_code == 400 and 'id="room_id-error"' in wrong.text
    assert "Is not in the chosen location." in wrong.text
    junk = await web.post("/s/loop-yoga/admin/classes", data={**form, "location_id": "nope"})
    assert junk.status_code == 400 and 'id="location_id-error"' in junk.text
    unknown = await web.post(
        "/s/loop-yoga/admin/classes", data={**form, "room_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 400 and "Is not a room of this studio." in unknown.text
    assert owner_db.value("SELECT count(*) FROM classes") == 0

    made = await web.post("/s/loop-yoga/admin/classes", data={**form, "room_id": studio.room_id})
    assert made.status_code == 303
    class_id, location_id = owner_db.rows("SELECT id, location_id FROM classes")[0]
    assert str(location_id) == studio.location_id  # the room's location

    # Weekly times at another place; the confirmation stays in the admin area.
    start = date.today() + timedelta(days=1)
    series = {
        "csrf_token": token,
        "class_id": str(class_id),
        "weekdays": ["0", "3"],
        "local_start_time": "07:00",
        "starts_on": start.isoformat(),
        "until": (start + timedelta(days=13)).isoformat(),
    }
    bad = await web.post("/s/loop-yoga/admin/schedules", data={**series, "series_location_id": "x"})
    assert bad.status_code == 400 and 'id="series_location_id-error"' in bad.text
    # The class's own room is not at the beach: the service says so by the room picker.
    clash = await web.post(
        "/s/loop-yoga/admin/schedules", data={**series, "series_location_id": other["id"]}
    )
    assert clash.status_code == 400 and 'id="series_room_id-error"' in clash.text
    deck = await studio.post(f"/locations/{other['id']}/rooms", {"name": "Deck", "capacity": 15})
    added = await web.post(
        "/s/loop-yoga/admin/schedules",
        data={**series, "series_location_id": other["id"], "series_room_id": deck["id"]},
    )
    assert added.status_code == 303
    assert added.headers["location"].startswith("/s/loop-yoga/admin/classes?added=4&first=")
    confirmed = await web.get(added.headers["location"])
    assert "4 dates added to the timetable, the first on" in confirmed.text
    assert "See that week on the timetable" in confirmed.text
    assert (
        owner_db.value("SELECT count(*) FROM class_schedules WHERE location_id = %s", other["id"])
        == 4
    )

    # A single date: explicit empties and a bad time refused by their fields.
    one = {"csrf_token": token, "date_class_id": str(class_id), "on": "", "at": "25:00"}
    refused = await web.post("/s/loop-yoga/admin/dates", data=one)
    assert refused.status_code == 400
    assert 'id="on-error"' in refused.text and 'id="at-error"' in refused.text
    wrong_class = await web.post(
        "/s/loop-yoga/admin/dates",
        data={**one, "date_class_id": str(uuid.uuid4()), "on": start.isoformat(), "at": "18:00"},
    )
    assert wrong_class.status_code == 400 and 'id="date_class_id-error"' in wrong_class.text
    single = await web.post(
        "/s/loop-yoga/admin/dates", data={**one, "on": start.isoformat(), "at": "18:00"}
    )
    assert single.status_code == 303 and "added=1" in single.headers["location"]
    assert "1 date added" in (await web.get(single.headers["location"])).text
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 5


async def test_a_class_teacher_level_and_place_are_edited(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    made = await studio.make_class(name="Slow Flow", room_id=None, location_id=None)
    token = await _as(web, studio.owner, f"/s/loop-yoga/admin/classes/{made['id']}")
    form = {
        "csrf_token": token,
        "name": "Slow Flow",
        "class_type": "yoga",
        "duration_minutes": "60",
        "max_capacity": "12",
        "credits_required": "1",
        "instructor_id": "",
        "difficulty_level": "advanced",
        "location_id": studio.location_id,
        "room_id": studio.room_id,
    }
    member = studio.member["user"]["id"]
    for bad, field in (
        ({"instructor_id": member}, "instructor_id"),  # a member does not teach
        ({"instructor_id": "x"}, "instructor_id"),
        ({"difficulty_level": "expert"}, "difficulty_level"),
        ({"difficulty_level": ""}, "difficulty_level"),
        ({"room_id": str(uuid.uuid4())}, "room_id"),
    ):
        answer = await web.post(f"/s/loop-yoga/admin/classes/{made['id']}", data={**form, **bad})
        assert answer.status_code == 400 and f'id="{field}-error"' in answer.text, bad
    assert owner_db.rows(
        "SELECT difficulty_level, location_id FROM classes WHERE id = %s", made["id"]
    ) == [("all_levels", None)]
    saved = await web.post(f"/s/loop-yoga/admin/classes/{made['id']}", data=form)
    assert saved.status_code == 303
    assert owner_db.rows(
        "SELECT difficulty_level, instructor_id, location_id::text, room_id::text "
        "FROM classes WHERE id = %s",
        made["id"],
    ) == [("advanced", None, studio.location_id, studio.room_id)]


async def test_dates_with_rosters_cancel_and_substitute(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    occurrence = await studio.occurrence(capacity=1, name="Power Hour")
    class_id = owner_db.value("SELECT class_id FROM class_schedules")
    first, second = await studio.new_member(credits=2), await studio.new_member(credits=2)
    assert (await studio.book(first, occurrence["id"])).status_code == 201
    waiting = await studio.book(second, occurrence["id"], join_waitlist=True)
    assert waiting.status_code == 201
    page_url = f"/s/loop-yoga/admin/classes/{class_id}"
    token = await _as(web, studio.owner, page_url)
    page = (await web.get(page_url)).text
    assert "<strong>1</strong> of 1 booked" in page
    assert "<strong>1</strong> waitlisted" in page and "waitlisted #1" in page
    assert "<strong>0</strong> checked in" in page

    base = f"{page_url}/dates/{occurrence['id']}"
    # Substitute: a member is no teacher; a bad id; a date of another class; nothing changes.
    refused = await web.post(
        f"{base}/substitute",
        data={"csrf_token": token, "substitute_instructor_id": studio.member["user"]["id"]},
    )
    assert refused.status_code == 400 and "not an active instructor" in refused.text
    junk = await web.post(
        f"{base}/substitute", data={"csrf_token": token, "substitute_instructor_id": "x"}
    )
    assert junk.status_code == 400 and "Choose one from the list." in junk.text
    other = await studio.occurrence(name="Other")
    elsewhere = await web.post(
        f"{page_url}/dates/{other['id']}/substitute",
        data={"csrf_token": token, "substitute_instructor_id": studio.instructor["user"]["id"]},
    )
    assert elsewhere.status_code == 400 and "belongs to another class" in elsewhere.text
    nowhere = await web.post(
        f"{page_url}/dates/{uuid.uuid4()}/cancel", data={"csrf_token": token, "reason": "Flood"}
    )
    assert nowhere.status_code == 400 and "not on the timetable" in nowhere.text
    assert (
        owner_db.value(
            "SELECT count(*) FROM class_schedules WHERE substitute_instructor_id IS NOT NULL"
        )
        == 0
    )

    subbed = await web.post(
        f"{base}/substitute",
        data={"csrf_token": token, "substitute_instructor_id": studio.instructor["user"]["id"]},
    )
    assert subbed.status_code == 303 and "done=substituted" in subbed.headers["location"]
    assert (
        owner_db.value(
            "SELECT substitute_instructor_id::text FROM class_schedules WHERE id = %s",
            occurrence["id"],
        )
        == studio.instructor["user"]["id"]
    )
    assert "substitute</span>" in (await web.get(subbed.headers["location"])).text

    # Cancel: a reason is required (members are told it); then everyone is refunded and told.
    for reason in ("", "  ", "x"):
        empty = await web.post(f"{base}/cancel", data={"csrf_token": token, "reason": reason})
        assert empty.status_code == 400 and f'id="reason-{occurrence["id"]}-error"' in empty.text
    assert owner_db.value("SELECT count(*) FROM class_schedules WHERE status = 'cancelled'") == 0
    done = await web.post(f"{base}/cancel", data={"csrf_token": token, "reason": "Burst pipe"})
    assert done.status_code == 303 and done.headers["location"].startswith(f"{page_url}?done=")
    assert (
        owner_db.value("SELECT status FROM class_schedules WHERE id = %s", occurrence["id"])
        == "cancelled"
    )
    assert await studio.balance(first) == 2
    shown = (await web.get(done.headers["location"])).text
    assert "The date is cancelled" in shown and "Burst pipe" in shown
    again = await web.post(f"{base}/cancel", data={"csrf_token": token, "reason": "Again"})
    assert again.status_code == 400


async def test_class_admin_refuses_the_wrong_people(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    occurrence = await studio.occurrence(name="Power Hour")
    class_id = owner_db.value("SELECT class_id FROM class_schedules")
    token = await _as(web, studio.member, "/s/loop-yoga")
    cancel = await web.post(
        f"/s/loop-yoga/admin/classes/{class_id}/dates/{occurrence['id']}/cancel",
        data={"csrf_token": token, "reason": "Not mine"},
    )
    assert cancel.status_code in (302, 303, 403)
    assert owner_db.value("SELECT status FROM class_schedules") == "scheduled"
    page = await web.get(f"/s/loop-yoga/admin/classes/{class_id}")
    assert page.status_code in (302, 303, 403)
    # Without the CSRF token, even the owner changes nothing.
    await _as(web, studio.owner, f"/s/loop-yoga/admin/classes/{class_id}")
    forged = await web.post(
        f"/s/loop-yoga/admin/classes/{class_id}/dates/{occurrence['id']}/cancel",
        data={"reason": "Forged"},
    )
    assert forged.status_code in (400, 403)
    assert owner_db.value("SELECT status FROM class_schedules") == "scheduled"
    missing = await web.get(f"/s/loop-yoga/admin/classes/{uuid.uuid4()}")
    assert missing.status_code == 404
    malformed = await web.get("/s/loop-yoga/admin/classes/not-an-id")
    assert malformed.status_code in (404, 422)
