"""Inputs that once answered 500: each is now a 4xx with the error envelope and changes
nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.booking.conftest import BookingStudio
from tests.chat.conftest import ChatStudio
from tests.conftest import Api, Owner, assert_error


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def test_a_nul_in_a_marketplace_search_is_refused(client: httpx.AsyncClient) -> None:
    for query in ("q=yo%00ga", "class_type=yo%00ga"):
        response = await client.get(f"/api/v1/marketplace/search?{query}")
        assert_error(response, 422, "VALIDATION_ERROR")


async def test_wrong_cursors_and_far_dates_on_the_timetable(api: Api) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    base = f"{studio.base}/schedules"
    for cursor in (
        "WyJhIiwiYiJd",  # ["a","b"]: well formed, wrong content
        _cursor(["2026-01-01T00:00:00", "not-a-uuid"]),
        _cursor(["2026-01-01T00:00:00", "6f1c7f5e-1d36-4f7c-a7f5-0d6d2c9b1e11"]),  # no offset
        _cursor([1, 2]),
    ):
        response = await api.client.get(base, params={"cursor": cursor})
        assert_error(response, 422, "VALIDATION_ERROR")
    far = await api.client.get(base, params={"from": "9999-12-31T23:59:59Z"})
    assert_error(far, 422, "VALIDATION_ERROR")


async def test_a_credit_adjustment_of_nothing_is_refused(api: Api, owner_db: Owner) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    url = f"{studio.base}/users/{studio.member['user']['id']}/credits/adjustments"
    for amount in (0, False, True, "5", 1.5, None):
        response = await api.client.post(
            url, headers=studio.owner["headers"], json={"amount": amount, "reason": "Because"}
        )
        assert_error(response, 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM credit_transactions") == 0


async def test_numbers_and_flags_are_not_coerced(api: Api) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    for body in (
        {"name": "Ten", "credits": "10", "price": 10000},
        {"name": "Ten", "credits": 10, "price": True},
        {"name": "Ten", "credits": 10, "price": 10000, "is_active": "yes"},
    ):
        response = await api.client.post(
            f"{studio.base}/credit-packages", headers=studio.owner["headers"], json=body
        )
        assert_error(response, 422, "VALIDATION_ERROR")


async def test_null_in_a_patch_clears_only_what_null_can_clear(api: Api) -> None:
    """docs/api.md: null clears a field that may be empty; on any other field it is a 422."""
    studio = await BookingStudio(api, "loop-yoga").setup()
    made = await api.client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Ten", "credits": 10, "price": 10000, "validity_days": 90},
    )
    assert made.status_code == 201, made.text
    url = f"{studio.base}/credit-packages/{made.json()['id']}"
    refused = await api.client.patch(url, headers=studio.owner["headers"], json={"credits": None})
    assert_error(refused, 422, "VALIDATION_ERROR")
    cleared = await api.client.patch(
        url, headers=studio.owner["headers"], json={"validity_days": None}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["validity_days"] is None
    assert cleared.json()["credits"] == 10


async def test_null_status_and_assignee_on_a_chat_room(api: Api) -> None:
    studio = await ChatStudio(api, "loop-yoga").setup()
    opened = await studio.open(studio.member)
    assert opened.status_code == 201, opened.text
    url = f"{studio.base}/chat/rooms/{opened.json()['id']}"
    refused = await api.client.patch(
        url, headers=studio.owner["headers"], json={"assignee_user_id": None, "status": None}
    )
    assert_error(refused, 422, "VALIDATION_ERROR")
    unassigned = await api.client.patch(
        url, headers=studio.owner["headers"], json={"assignee_user_id": None}
    )
    assert unassigned.status_code == 200, unassigned.text
    assert unassigned.json()["status"] == "open"


async def test_unstorable_text_in_an_announcement(api: Api, owner_db: Owner) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    url = f"{studio.base}/notifications/announcements"
    for title in ('"Hi\\u0000there"', '"Hi \\ud800 there"', '"\\udc00"'):
        body = '{"title": ' + title + ', "message": "Studio closed on Monday"}'
        response = await api.client.post(
            url,
            headers={**studio.owner["headers"], "Content-Type": "application/json"},
            content=body.encode(),
        )
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert error["details"]["fields"][0]["field"] == "title"
    jobs = "SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE '%%announce%%'"
    assert owner_db.value(jobs) == 0
    # A surrogate pair written as escapes is a real character and is kept.
    emoji = await api.client.post(
        url,
        headers={**studio.owner["headers"], "Content-Type": "application/json"},
        content=b'{"title": "Sun \\ud83c\\udf1e", "message": "Outdoor class"}',
    )
    assert emoji.status_code == 202, emoji.text
    assert owner_db.value(jobs) == 1


async def test_a_pack_must_have_a_price(api: Api, owner_db: Owner) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    free = await api.client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Free", "credits": 1, "price": 0},
    )
    assert_error(free, 422, "VALIDATION_ERROR")
    # A pack priced 0 made before prices had to be positive cannot be bought.
    made = await api.client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Old", "credits": 1, "price": 100},
    )
    owner_db.rows("UPDATE credit_packages SET price = 0 WHERE id = %s", made.json()["id"])
    bought = await api.client.post(
        f"{studio.base}/payments/credits/purchase",
        headers=studio.member["headers"],
        json={"package_id": made.json()["id"]},
    )
    assert_error(bought, 409, "PACKAGE_NOT_FOR_SALE")
    assert owner_db.value("SELECT count(*) FROM payments") == 0


async def test_the_inbox_with_several_rooms_and_readers(api: Api) -> None:
    studio = await ChatStudio(api, "loop-yoga").setup()
    second_member = await studio.new_member()
    guest = await studio.guest()
    rooms = []
    for who in (studio.member, studio.member, second_member, guest):
        opened = await studio.open(who, message="Hello")
        assert opened.status_code == 201, opened.text
        rooms.append(opened.json()["id"])
    # Two staff readers, each having posted in two conversations.
    for room in rooms[:2]:
        assert (await studio.say(studio.owner, room, "We'll look")).status_code == 201
        assert (await studio.say(studio.instructor, room, "On it")).status_code == 201
    for reader in (studio.owner, studio.instructor):
        inbox = await api.client.get(f"{studio.base}/chat/rooms", headers=reader["headers"])
        assert inbox.status_code == 200, inbox.text
        unread = {room["id"]: room["unread"] for room in inbox.json()}
        assert set(unread) == set(rooms)
        assert unread[rooms[2]] == 1 and unread[rooms[3]] == 1
    mine = await api.client.get(f"{studio.base}/chat/rooms", headers=studio.member["headers"])
    assert {room["id"] for room in mine.json()} == set(rooms[:2])
    assert all(room["unread"] == 2 for room in mine.json())
