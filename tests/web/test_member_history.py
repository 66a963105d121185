"""A member's past classes and attendance, bookings the studio cancelled, and their
classes in their own calendar."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login

HTML = {"accept": "text/html"}


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "history-loop").setup()


async def _signed_in(web: httpx.AsyncClient, person: dict[str, Any]) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    page = await web.get("/my/bookings")
    return CSRF.search(page.text).group(1)


async def test_past_classes_show_what_became_of_each(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=3)
    went, missed = [
        await studio.occurrence(hours_ahead=h, name=n) for h, n in ((30, "Went"), (40, "Missed"))
    ]
    for occurrence in (went, missed):
        assert (await studio.book(member, occurrence["id"])).status_code == 201
    # Both classes are over now; the member was checked in to one.
    owner_db.rows(
        "UPDATE class_schedules SET start_time = start_time - interval '3 days', "
        "end_time = end_time - interval '3 days'"
    )
    owner_db.rows(
        "UPDATE bookings SET check_in_time = now() - interval '2 days' "
        "WHERE class_schedule_id = %s",
        went["id"],
    )
    await _signed_in(web, member)
    page = await web.get("/my/bookings/past")
    assert page.status_code == 200
    assert "1 class attended" in page.text
    assert 'data-kind="attended"' in page.text and 'data-kind="missed"' in page.text
    assert "not checked in" in page.text


async def test_a_class_the_studio_cancelled_stays_visible_with_its_reason(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(hours_ahead=30)
    booking = (await studio.book(member, occurrence["id"])).json()
    cancelled = await studio.client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Instructor ill"},
    )
    assert cancelled.status_code == 200, cancelled.text
    await _signed_in(web, member)
    mine = await web.get("/my/bookings")
    assert f'data-booking="{booking["id"]}"' in mine.text
    assert "The studio cancelled this: Instructor ill." in mine.text
    assert "Your 1 credit came back." in mine.text
    assert f"/my/bookings/{booking['id']}/cancel" not in mine.text


async def test_a_booking_goes_into_the_members_calendar(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=1)
    occurrence = await studio.occurrence(hours_ahead=30, name="Calendar Flow")
    booking = (await studio.book(member, occurrence["id"])).json()
    token = await _signed_in(web, member)
    page = await web.get(f"/my/bookings/{booking['id']}")
    assert f"/my/bookings/{booking['id']}/calendar.ics" in page.text
    ics = await web.get(f"/my/bookings/{booking['id']}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Calendar Flow" in ics.text and f"booking-{booking['id']}" in ics.text
    assert f"/my/bookings/{booking['id']}" in ics.text.replace("\r\n ", "")

    feed = await web.get("/my/calendar")
    first_address = feed.text.split('id="feed-url" type="text" readonly value="')[1].split('"')[0]
    assert first_address.endswith(".ics") and "webcal://" in feed.text
    refused = await web.post("/my/calendar/reset", data={}, headers=HTML)
    assert refused.status_code == 403
    reset = await web.post("/my/calendar/reset", data={"csrf_token": token})
    assert reset.status_code == 303
    again = await web.get("/my/calendar?reset=1")
    assert first_address not in again.text and "Your calendar address is new" in again.text

    other = await studio.new_member()
    web.cookies.clear()
    await _signed_in(web, other)
    theirs = await web.get(f"/my/bookings/{booking['id']}/calendar.ics", headers=HTML)
    assert theirs.status_code == 404
