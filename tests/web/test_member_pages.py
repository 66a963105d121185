"""The member's pages over HTTP: forms refuse what they must, change nothing when they
do, and never show one member's booking to another."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


async def _signed_in(web: httpx.AsyncClient, person: dict[str, Any]) -> str:
    response = await _login(web, person["email"], "secret123")
    assert response.status_code == 303
    page = await web.get("/my/bookings")
    return CSRF.search(page.text).group(1)


async def test_pages_need_a_member_or_login(web: httpx.AsyncClient, studio: BookingStudio) -> None:
    for path in ("/my/bookings", "/s/loop-yoga/credits", "/s/loop-yoga/notifications"):
        response = await web.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    public = await web.get("/s/loop-yoga/timetable")
    assert public.status_code == 200 and "Timetable" in public.text
    missing = await web.get("/s/nowhere", headers={"accept": "text/html"})
    assert missing.status_code == 404


async def test_booking_from_the_class_page(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=3)
    occurrence = await studio.occurrence(name="Morning Yoga")
    token = await _signed_in(web, member)
    url = f"/s/loop-yoga/classes/{occurrence['id']}/book"

    refused = await web.post(url, data={}, headers={"accept": "text/html"})
    assert refused.status_code == 403  # no CSRF token
    assert owner_db.value("SELECT count(*) FROM bookings") == 0

    booked = await web.post(url, data={"csrf_token": token})
    assert booked.status_code == 303
    assert re.match(r"^/my/bookings/[0-9a-f-]+\?new=1$", booked.headers["location"])
    page = await web.get(booked.headers["location"])
    assert "You're booked" in page.text and "<svg" in page.text

    again = await web.post(url, data={"csrf_token": token})
    assert again.status_code == 409 and "already" in again.text.lower()
    assert owner_db.value("SELECT count(*) FROM bookings") == 1
    assert (
        owner_db.value(
            "SELECT balance FROM credit_accounts WHERE user_id = %s", member["user"]["id"]
        )
        == 2
    )


async def test_a_full_class_offers_the_waitlist_and_changes_nothing_else(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    first = await studio.new_member(credits=2)
    late = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(capacity=1)
    assert (await studio.book(first, occurrence["id"])).status_code == 201
    token = await _signed_in(web, late)
    page = await web.get(f"/s/loop-yoga/classes/{occurrence['id']}")
    assert "Join the waitlist" in page.text
    joined = await web.post(
        f"/s/loop-yoga/classes/{occurrence['id']}/book",
        data={"csrf_token": token, "join_waitlist": "1"},
    )
    assert joined.status_code == 303
    mine = await web.get(joined.headers["location"])
    assert "waitlist" in mine.text
    assert (
        owner_db.value("SELECT balance FROM credit_accounts WHERE user_id = %s", late["user"]["id"])
        == 2
    )


async def test_nobody_sees_or_cancels_anothers_booking(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    owner_of_booking = await studio.new_member(credits=2)
    occurrence = await studio.occurrence()
    booked = await studio.book(owner_of_booking, occurrence["id"])
    booking_id = booked.json()["id"]
    other = await studio.new_member()
    token = await _signed_in(web, other)
    html = {"accept": "text/html"}
    assert (await web.get(f"/my/bookings/{booking_id}", headers=html)).status_code == 404
    cancel = await web.post(
        f"/my/bookings/{booking_id}/cancel", data={"csrf_token": token}, headers=html
    )
    assert cancel.status_code == 404
    assert owner_db.value("SELECT status FROM bookings") == "confirmed"


async def test_saving_notification_settings_from_the_form(
    web: httpx.AsyncClient, studio: BookingStudio
) -> None:
    member = await studio.new_member()
    token = await _signed_in(web, member)
    bad = await web.post(
        "/s/loop-yoga/notifications",
        data={
            "csrf_token": token,
            "quiet": "1",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "22:00",
        },
    )
    assert bad.status_code == 400 and "quiet hours" in bad.text
    saved = await web.post(
        "/s/loop-yoga/notifications",
        data={
            "csrf_token": token,
            "first_channel": "email",
            "reminders": "1",
            "reminder_hours": ["12", "1"],
            "marketing": "1",
        },
    )
    assert saved.status_code == 303
    prefs = await studio.client.get(
        f"{studio.base}/notifications/preferences", headers=member["headers"]
    )
    body = prefs.json()
    assert body["channels"][0] == "email"
    assert body["reminder_hours"] == [12, 1]
    assert (body["booking_updates"], body["marketing"]) == (False, True)


async def test_pages_stay_small(web: httpx.AsyncClient, studio: BookingStudio) -> None:
    """Each page with its CSS and JS under 100 KB (a member on a slow network)."""
    css = await web.get("/static/css/app.css")
    js = await web.get("/static/js/app.js")
    for occurrence_hours in (30, 54, 78):
        await studio.occurrence(hours_ahead=occurrence_hours)
    for path in ("/s/loop-yoga", "/s/loop-yoga/timetable", "/signup"):
        page = await web.get(path)
        assert len(page.content) + len(css.content) + len(js.content) < 100_000, path


async def test_the_profile_page_saves_a_phone_for_whatsapp(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member()
    await _signed_in(web, member)
    page = await web.get("/my/profile")
    token = CSRF.search(page.text).group(1)
    bad = await web.post(
        "/my/profile",
        data={"csrf_token": token, "first_name": "Naledi", "last_name": "M", "phone": "call me"},
    )
    assert bad.status_code == 400 and 'id="phone-error"' in bad.text
    saved = await web.post(
        "/my/profile",
        data={
            "csrf_token": token,
            "first_name": "Naledi",
            "last_name": "M",
            "phone": "+27 82 555 0101",
        },
    )
    assert saved.status_code == 303
    assert owner_db.rows(
        "SELECT first_name, phone, preferences->>'locale' FROM users WHERE id = %s",
        member["user"]["id"],
    ) == [("Naledi", "+27 82 555 0101", "en")]


async def test_a_priced_class_without_credits_says_pay_and_holds_the_seat(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=0)
    occurrence = await studio.occurrence(name="Reformer", price=28000, credits_required=2)
    token = await _signed_in(web, member)
    page = await web.get(f"/s/loop-yoga/classes/{occurrence['id']}")
    assert "Pay ZAR 280.00 and book" in page.text and "Buy credits instead" in page.text
    booked = await web.post(
        f"/s/loop-yoga/classes/{occurrence['id']}/book", data={"csrf_token": token}
    )
    assert booked.status_code == 303 and "/checkout/" in booked.headers["location"]
    mine = await web.get("/my/bookings")
    assert "Your seat is held" in mine.text and booked.headers["location"] in mine.text
    assert owner_db.value("SELECT status FROM bookings") == "held"


async def test_codes_scale_to_the_screen_and_past_classes_say_so(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=1)
    occurrence = await studio.occurrence()
    booking = await studio.book(member, occurrence["id"])
    await _signed_in(web, member)
    page = await web.get(f"/my/bookings/{booking.json()['id']}")
    svg = page.text[page.text.index("<svg") : page.text.index(">", page.text.index("<svg"))]
    assert "viewBox" in svg and "width=" not in svg  # scales with its box, never cropped
    owner_db.rows(
        "UPDATE class_schedules SET start_time = now() - interval '3 hours', "
        "end_time = now() - interval '2 hours'"
    )
    timetable = await web.get("/s/loop-yoga/timetable")
    assert "Finished" in timetable.text and "waitlist open" not in timetable.text


def test_text_on_a_studio_colour_stays_readable() -> None:
    from studioloop.web.forms import readable_on

    assert readable_on("#0f766e") == "#ffffff"  # our teal: white
    assert readable_on("#facc15") == "#111827"  # yellow: dark text
    assert readable_on("#ffffff") == "#111827"
    assert readable_on("#000000") == "#ffffff"
