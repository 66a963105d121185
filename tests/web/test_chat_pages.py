"""Chat from the web: the widget's embed code and reply time on Settings, who wrote in and
when in the staff inbox, the widget's greeting and close button."""

from __future__ import annotations

import html
import uuid
from zoneinfo import ZoneInfo

import httpx

from tests.booking.conftest import BookingStudio
from tests.conftest import Owner
from tests.web.test_admin_pages import _as, studio  # noqa: F401  (fixtures)

SETTINGS = "/s/loop-yoga/admin/settings"


def _form(token: str, **changes: str) -> dict[str, object]:
    return {
        "csrf_token": token,
        "name": "Loop Yoga",
        "brand_color": "#0f766e",
        "cancellation_window_hours": "12",
        "late_cancel_policy": "forfeit",
        "reminder_hours": ["24"],
        "channel_email": "1",
        **changes,
    }


async def test_the_embed_code_and_the_reply_time_on_settings(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    token = await _as(web, studio.owner, SETTINGS)
    page = html.unescape((await web.get(SETTINGS)).text)
    assert (
        '<script src="http://127.0.0.1:8000/widget/chat.js" data-studio="loop-yoga" async>' in page
    )
    assert "Copy the code" in page and "just before <code></body></code>" in page
    # The widget promises the default until the studio chooses.
    frame = await web.get("/s/loop-yoga/chat")
    assert "we usually reply within a few hours" in frame.text
    assert 'aria-label="Close the chat"' in frame.text

    for bad in ("", "soon", "<script>"):
        refused = await web.post(SETTINGS, data=_form(token, chat_reply_time=bad))
        assert refused.status_code == 400 and 'id="chat_reply_time-error"' in refused.text
    assert "chat_reply_time" not in (
        owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'") or {}
    )
    saved = await web.post(SETTINGS, data=_form(token, chat_reply_time="minutes"))
    assert saved.status_code == 303
    settings = owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'")
    assert settings["chat_reply_time"] == "minutes"
    assert "we usually reply in a few minutes" in (await web.get("/s/loop-yoga/chat")).text
    # A form without the field (an older page) leaves the choice alone.
    assert (await web.post(SETTINGS, data=_form(token))).status_code == 303
    settings = owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'")
    assert settings["chat_reply_time"] == "minutes"


async def test_members_see_no_embed_settings(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    token = await _as(web, studio.member, "/s/loop-yoga")
    page = await web.get(SETTINGS)
    assert page.status_code != 200 and "Embed code" not in page.text
    refused = await web.post(SETTINGS, data=_form(token, chat_reply_time="day"))
    assert refused.status_code != 303 or "login" in refused.headers.get("location", "")
    assert "chat_reply_time" not in (
        owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'") or {}
    )


async def test_the_inbox_shows_who_wrote_and_when_on_the_studios_clock(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    guest = await studio.client.post(
        f"{studio.base}/guest/token", json={"name": "Thabo Nkosi", "email": "thabo@example.com"}
    )
    auth = {"Authorization": f"Bearer {guest.json()['token']}"}
    room = (
        await studio.client.post(
            f"{studio.base}/chat/rooms",
            headers=auth,
            json={"subject": "Showers?", "message": "Do you have showers?"},
        )
    ).json()
    member_room = (
        await studio.client.post(
            f"{studio.base}/chat/rooms",
            headers=studio.member["headers"],
            json={"subject": "My booking", "message": "Can I move it?"},
        )
    ).json()
    await _as(web, studio.owner, "/s/loop-yoga/staff/inbox")
    listing = (await web.get("/s/loop-yoga/staff/inbox")).text
    assert "Thabo Nkosi" in listing
    page = (await web.get(f"/s/loop-yoga/staff/inbox?room={room['id']}")).text
    assert "From <strong>Thabo Nkosi</strong>" in page
    assert 'href="mailto:thabo@example.com"' in page and "website visitor" in page
    sent = owner_db.value("SELECT created_at FROM chat_messages ORDER BY seq LIMIT 1")
    zone = owner_db.value("SELECT timezone FROM tenants WHERE slug = 'loop-yoga'")
    on_clock = sent.astimezone(ZoneInfo(zone)).strftime("%d %b %H:%M")
    assert f">{on_clock}</time>" in page
    assert f'data-timezone="{zone}"' in page
    theirs = (await web.get(f"/s/loop-yoga/staff/inbox?room={member_room['id']}")).text
    assert studio.member["email"] in theirs and ">member</span>" in theirs


async def test_the_inbox_refuses_strangers_and_unknown_rooms(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
) -> None:
    await _as(web, studio.member, "/s/loop-yoga")
    assert (await web.get("/s/loop-yoga/staff/inbox")).status_code != 200
    await _as(web, studio.owner, "/s/loop-yoga/staff/inbox")
    unknown = await web.get(f"/s/loop-yoga/staff/inbox?room={uuid.uuid4()}")
    assert unknown.status_code == 404
    malformed = await web.get("/s/loop-yoga/staff/inbox?room=nope")
    assert malformed.status_code in (400, 422)
