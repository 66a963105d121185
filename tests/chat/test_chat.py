"""Support chat over HTTP: guests, rooms, the staff inbox, who sees what, and limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from studioloop.config import get_settings
from tests.chat.conftest import ChatStudio
from tests.conftest import Owner, assert_error


async def test_a_guest_asks_and_the_studio_answers(studio: ChatStudio, owner_db: Owner) -> None:
    guest = await studio.guest()
    opened = await studio.open(guest, "Is there parking?", message="Hi! Is there parking nearby?")
    assert opened.status_code == 201, opened.text
    room = opened.json()
    assert (room["kind"], room["status"]) == ("support", "open")
    # The owner (the studio's admin) is told about the new request.
    assert (
        owner_db.value("SELECT subject FROM notifications WHERE event = 'support_request'")
        == "New support request: Is there parking?"
    )

    inbox = await studio.client.get(
        f"{studio.base}/chat/rooms", headers=studio.instructor["headers"]
    )
    assert [(r["id"], r["unread"]) for r in inbox.json()] == [(room["id"], 1)]
    reply = await studio.say(studio.instructor, room["id"], "Yes, behind the building <b>free</b>.")
    assert reply.status_code == 201 and reply.json()["is_staff"] is True
    # The guest may have closed the page: they get the answer by email, once an hour.
    assert owner_db.rows(
        "SELECT recipient, subject FROM notifications WHERE event = 'support_reply'"
    ) == [("thabo@example.com", "Loop Yoga answered: Is there parking?")]
    assert "behind the building" in owner_db.value(
        "SELECT body_text FROM notifications WHERE event = 'support_reply'"
    )
    # The guest may have closed the page: they get the answer by email, once an hour.
    assert owner_db.rows(
        "SELECT recipient, subject FROM notifications WHERE event = 'support_reply'"
    ) == [("thabo@example.com", "Loop Yoga answered: Is there parking?")]
    assert "behind the building" in owner_db.value(
        "SELECT body_text FROM notifications WHERE event = 'support_reply'"
    )

    history = await studio.client.get(
        f"{studio.base}/chat/rooms/{room['id']}/messages", headers=guest["headers"]
    )
    bodies = [m["body"] for m in history.json()["items"]]
    assert bodies == ["Hi! Is there parking nearby?", "Yes, behind the building <b>free</b>."]
    after = await studio.client.get(
        f"{studio.base}/chat/rooms/{room['id']}/messages",
        params={"after": history.json()["items"][0]["seq"]},
        headers=guest["headers"],
    )
    assert [m["body"] for m in after.json()["items"]] == [bodies[1]]
    mine = await studio.client.get(f"{studio.base}/chat/rooms", headers=guest["headers"])
    assert [r["unread"] for r in mine.json()] == [1]  # the reply
    await studio.say(studio.instructor, room["id"], "And it is free after 6.")
    assert owner_db.value("SELECT count(*) FROM notifications WHERE event = 'support_reply'") == 1


async def test_nobody_else_gets_into_a_guests_room(studio: ChatStudio) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest)).json()
    other = await studio.guest("Zodwa", "zodwa@example.com")
    for response in (
        await studio.client.get(
            f"{studio.base}/chat/rooms/{room['id']}/messages", headers=other["headers"]
        ),
        await studio.say(other, room["id"], "let me in"),
        await studio.say(studio.member, room["id"], "me too"),
    ):
        assert_error(response, 404, "ROOM_NOT_FOUND")
    assert (
        await studio.client.get(f"{studio.base}/chat/rooms", headers=other["headers"])
    ).json() == []
    # A guest token is for its own studio only.
    elsewhere = await studio.client.get(
        "/api/v1/chat/rooms", headers={**guest["headers"], "X-Tenant-ID": "other-studio"}
    )
    assert elsewhere.status_code == 200 and [r["id"] for r in elsewhere.json()] == [room["id"]]


async def test_expired_and_forged_tokens_are_refused(studio: ChatStudio) -> None:
    guest = await studio.guest()
    claims = jwt.decode(guest["token"], options={"verify_signature": False})
    claims["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    secret = get_settings().secret_key.get_secret_value()
    expired = jwt.encode(claims, secret, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": claims["exp"] + 3600}, "not-the-key", algorithm="HS256")
    for token in (expired, forged, "nonsense", ""):
        response = await studio.client.get(
            f"{studio.base}/chat/rooms", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401


async def test_tickets_are_about_records_of_their_own(studio: ChatStudio) -> None:
    member = await studio.new_member(credits=1)
    occurrence = await studio.occurrence()
    booking = (await studio.book(member, occurrence["id"])).json()
    mine = await studio.open(member, "My booking", about_kind="booking", about_id=booking["id"])
    assert mine.status_code == 201 and mine.json()["about_id"] == booking["id"]
    someone_elses = await studio.open(
        studio.member, "Not mine", about_kind="booking", about_id=booking["id"]
    )
    assert_error(someone_elses, 422, "ABOUT_INVALID")
    guest = await studio.guest()
    linked = await studio.open(guest, about_kind="member", about_id=member["user"]["id"])
    assert_error(linked, 422, "ABOUT_INVALID")
    staff_link = await studio.open(
        studio.owner, "Member question", about_kind="member", about_id=member["user"]["id"]
    )
    assert staff_link.status_code == 201
    half = await studio.open(studio.owner, "Half", about_kind="payment")
    assert_error(half, 422, "ABOUT_INVALID")


async def test_staff_manage_tickets_and_a_guest_reopens_one(studio: ChatStudio) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest)).json()
    url = f"{studio.base}/chat/rooms/{room['id']}"
    refused = await studio.client.patch(url, headers=guest["headers"], json={"status": "closed"})
    assert_error(refused, 403, "STAFF_ONLY")
    not_staff = await studio.client.patch(
        url, headers=studio.owner["headers"], json={"assignee_user_id": studio.member["user"]["id"]}
    )
    assert_error(not_staff, 403, "NOT_STAFF")
    closed = await studio.client.patch(
        url,
        headers=studio.owner["headers"],
        json={"status": "closed", "assignee_user_id": studio.instructor["user"]["id"]},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    only_closed = await studio.client.get(
        f"{studio.base}/chat/rooms", params={"status": "closed"}, headers=studio.owner["headers"]
    )
    assert [r["id"] for r in only_closed.json()] == [room["id"]]
    await studio.say(guest, room["id"], "One more question")
    again = await studio.client.get(f"{studio.base}/chat/rooms", headers=studio.owner["headers"])
    assert again.json()[0]["status"] == "open"


async def test_message_limits(studio: ChatStudio, owner_db: Owner) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest)).json()
    assert_error(await studio.say(guest, room["id"], "x" * 4001), 422, "VALIDATION_ERROR")
    assert_error(await studio.say(guest, room["id"], "   "), 422, "VALIDATION_ERROR")
    for n in range(30):
        assert (await studio.say(guest, room["id"], f"message {n}")).status_code == 201
    assert_error(await studio.say(guest, room["id"], "one too many"), 429, "SENDING_TOO_FAST")
    assert owner_db.value("SELECT count(*) FROM chat_messages") == 30


async def test_guest_tokens_need_a_studio_and_valid_details(studio: ChatStudio) -> None:
    no_studio = await studio.client.post(
        "/api/v1/guest/token", json={"name": "A", "email": "a@example.com"}
    )
    assert_error(no_studio, 400, "TENANT_REQUIRED")
    bad = await studio.client.post(f"{studio.base}/guest/token", json={"name": "", "email": "x"})
    assert_error(bad, 422, "VALIDATION_ERROR")


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "#0f766e").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_attachments_are_checked_stored_and_only_for_the_room(
    studio: ChatStudio, owner_db: Owner
) -> None:
    guest = await studio.guest()
    room = (await studio.open(guest)).json()
    url = f"{studio.base}/chat/rooms/{room['id']}/attachments"
    sent = await studio.client.post(
        url, headers=guest["headers"], files={"file": ("parking.png", _png(), "image/png")}
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert (message["attachment_name"], message["attachment_type"]) == ("parking.png", "image/png")
    download = await studio.client.get(
        f"/api/v1/tenants/loop-yoga{message['attachment_url'].removeprefix('/api/v1')}",
        headers=studio.owner["headers"],
    )
    assert download.status_code == 200 and download.content == _png()
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("inline")

    disguised = await studio.client.post(
        url,
        headers=guest["headers"],
        files={"file": ("notes.pdf", b"<html><script>alert(1)</script>", "application/pdf")},
    )
    assert_error(disguised, 422, "ATTACHMENT_TYPE")
    huge = await studio.client.post(
        url,
        headers=guest["headers"],
        files={"file": ("big.pdf", b"%PDF-" + b"0" * 950_000, "application/pdf")},
    )
    assert_error(huge, 422, "ATTACHMENT_TOO_LARGE")
    other = await studio.guest("Zodwa", "zodwa@example.com")
    stolen = await studio.client.get(
        f"{studio.base}/chat/rooms/{room['id']}/attachments/{message['id']}",
        headers=other["headers"],
    )
    assert_error(stolen, 404, "ROOM_NOT_FOUND")
    assert owner_db.value("SELECT count(*) FROM chat_messages") == 1
