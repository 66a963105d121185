"""Locations, rooms and classes."""

from __future__ import annotations

import uuid

from tests.conftest import Api, Owner, assert_error
from tests.scheduling.conftest import Studio, tomorrow_at


async def test_create_and_read_a_class(studio: Studio, client) -> None:
    created = await studio.make_class(
        description="Flow to wake up",
        difficulty_level="beginner",
        credits_required=2,
        equipment_needed=["mat", "block"],
        price=15000,
    )
    assert created["currency"] == "ZAR"
    assert created["price"] == 15000
    assert created["equipment_needed"] == ["mat", "block"]

    public = await client.get(f"{studio.base}/classes")
    assert [c["name"] for c in public.json()] == ["Morning Vinyasa"]
    one = await client.get(f"{studio.base}/classes/{created['id']}")
    assert one.json()["difficulty_level"] == "beginner"


async def test_inactive_classes_are_hidden_from_the_public(studio: Studio, client) -> None:
    created = await studio.make_class()
    patched = await client.patch(
        f"{studio.base}/classes/{created['id']}",
        headers=studio.owner["headers"],
        json={"is_active": False},
    )
    assert patched.json()["is_active"] is False
    assert (await client.get(f"{studio.base}/classes")).json() == []
    assert_error(await client.get(f"{studio.base}/classes/{created['id']}"), 404, "CLASS_NOT_FOUND")
    staff_view = await client.get(
        f"{studio.base}/classes",
        params={"include_inactive": "true"},
        headers=studio.owner["headers"],
    )
    assert len(staff_view.json()) == 1
    # A member asking for inactive classes still gets only the active ones.
    member_view = await client.get(
        f"{studio.base}/classes",
        params={"include_inactive": "true"},
        headers=studio.member["headers"],
    )
    assert member_view.json() == []


async def test_only_admins_change_the_catalogue(studio: Studio, client, owner_db: Owner) -> None:
    body = {"name": "Sneaky", "class_type": "yoga", "duration_minutes": 30, "max_capacity": 5}
    for user in (studio.member, studio.instructor):
        response = await client.post(f"{studio.base}/classes", headers=user["headers"], json=body)
        assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert_error(await client.post(f"{studio.base}/classes", json=body), 401, "UNAUTHORIZED")
    assert owner_db.value("SELECT count(*) FROM classes") == 0


async def test_class_validation(studio: Studio, client) -> None:
    bad = await client.post(
        f"{studio.base}/classes",
        headers=studio.owner["headers"],
        json={
            "name": "",
            "class_type": "Yoga Flow!",
            "duration_minutes": 2,
            "max_capacity": 0,
            "difficulty_level": "extreme",
            "price": -5,
        },
    )
    fields = {f["field"] for f in assert_error(bad, 422, "VALIDATION_ERROR")["details"]["fields"]}
    assert fields == {
        "name",
        "class_type",
        "duration_minutes",
        "max_capacity",
        "difficulty_level",
        "price",
    }

    not_instructor = await client.post(
        f"{studio.base}/classes",
        headers=studio.owner["headers"],
        json={
            "name": "X",
            "class_type": "yoga",
            "duration_minutes": 30,
            "max_capacity": 5,
            "instructor_id": studio.member["user"]["id"],
        },
    )
    error = assert_error(not_instructor, 422, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["field"] == "instructor_id"


async def test_a_class_cannot_hold_more_than_its_room(studio: Studio, client, owner_db) -> None:
    response = await client.post(
        f"{studio.base}/classes",
        headers=studio.owner["headers"],
        json={
            "name": "Big",
            "class_type": "spin",
            "duration_minutes": 45,
            "max_capacity": 21,
            "room_id": studio.room_id,
        },
    )
    error = assert_error(response, 409, "CAPACITY_ABOVE_ROOM")
    assert error["details"] == {"capacity": 21, "room_capacity": 20}
    assert owner_db.value("SELECT count(*) FROM classes") == 0


async def test_delete_is_refused_while_people_are_booked(studio: Studio, client, owner_db) -> None:
    created = await studio.make_class()
    occurrence = await studio.schedule_at(created["id"], tomorrow_at(6))
    owner_db.rows("UPDATE class_schedules SET booked_count = 3 WHERE id = %s", occurrence["id"])
    refused = await client.delete(
        f"{studio.base}/classes/{created['id']}", headers=studio.owner["headers"]
    )
    assert_error(refused, 409, "CLASS_HAS_BOOKINGS")
    assert owner_db.value("SELECT count(*) FROM classes") == 1

    owner_db.rows("UPDATE class_schedules SET booked_count = 0")
    deleted = await client.delete(
        f"{studio.base}/classes/{created['id']}", headers=studio.owner["headers"]
    )
    assert deleted.status_code == 204
    assert owner_db.value("SELECT count(*) FROM class_schedules") == 0


async def test_another_studios_class_cannot_be_touched(
    studio: Studio, api: Api, client, owner_db
) -> None:
    created = await studio.make_class()
    other = await Studio(api, "jozi-hiit").setup()
    via_own_path = await client.patch(
        f"{other.base}/classes/{created['id']}",
        headers=other.owner["headers"],
        json={"name": "Stolen"},
    )
    assert_error(via_own_path, 404, "CLASS_NOT_FOUND")
    via_victim_path = await client.patch(
        f"{studio.base}/classes/{created['id']}",
        headers=other.owner["headers"],
        json={"name": "Stolen"},
    )
    assert_error(via_victim_path, 403, "INSUFFICIENT_ROLE")
    deleted = await client.delete(
        f"{other.base}/classes/{created['id']}", headers=other.owner["headers"]
    )
    assert_error(deleted, 404, "CLASS_NOT_FOUND")
    assert owner_db.value("SELECT name FROM classes") == "Morning Vinyasa"
    # Using another studio's room is refused as if it did not exist.
    foreign_room = await client.post(
        f"{other.base}/classes",
        headers=other.owner["headers"],
        json={
            "name": "X",
            "class_type": "yoga",
            "duration_minutes": 30,
            "max_capacity": 5,
            "room_id": studio.room_id,
        },
    )
    assert_error(foreign_room, 422, "VALIDATION_ERROR")


async def test_locations_and_rooms(studio: Studio, client, owner_db) -> None:
    listing = (await client.get(f"{studio.base}/locations")).json()
    assert listing[0]["name"] == "Main studio"
    assert [r["name"] for r in listing[0]["rooms"]] == ["Studio A"]

    duplicate = await client.post(
        f"{studio.base}/locations", headers=studio.owner["headers"], json={"name": "Main studio"}
    )
    assert_error(duplicate, 409, "NAME_TAKEN")
    half = await client.post(
        f"{studio.base}/locations",
        headers=studio.owner["headers"],
        json={"name": "Beach", "latitude": -33.9},
    )
    assert_error(half, 422, "VALIDATION_ERROR")
    orphan = await client.post(
        f"{studio.base}/locations/{uuid.uuid4()}/rooms",
        headers=studio.owner["headers"],
        json={"name": "R", "capacity": 5},
    )
    assert_error(orphan, 404, "LOCATION_NOT_FOUND")
    assert owner_db.value("SELECT count(*) FROM locations") == 1


async def test_a_room_cannot_shrink_below_its_future_classes(studio: Studio, client) -> None:
    created = await studio.make_class(max_capacity=15)
    await studio.schedule_at(created["id"], tomorrow_at(6))
    shrink = await client.patch(
        f"{studio.base}/rooms/{studio.room_id}",
        headers=studio.owner["headers"],
        json={"capacity": 10},
    )
    assert_error(shrink, 409, "CAPACITY_ABOVE_ROOM")
    ok = await client.patch(
        f"{studio.base}/rooms/{studio.room_id}",
        headers=studio.owner["headers"],
        json={"capacity": 15},
    )
    assert ok.json()["capacity"] == 15
