"""The public timetable (web/timetable_pages.py): a week with prices and Book buttons,
filtered by class type, instructor, time of day on the studio's clock and location, the
filters kept in every link; unknown or mangled filters are named and dropped."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.booking.conftest import BookingStudio
from tests.conftest import Owner
from tests.web.test_pages import CSRF, _login

ZONE = ZoneInfo("Africa/Johannesburg")
NEXT_MONDAY = (lambda d: d + timedelta(days=7 - d.weekday()))(datetime.now(ZONE).date())
URL = "/s/loop-yoga/timetable"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


@pytest.fixture
async def week(api) -> dict[str, Any]:
    """Next week at Loop Yoga: yoga with Sipho at 07:00 on Monday (Main studio), pilates
    at 13:00 on Wednesday and spin at 18:30 on Friday (the second location)."""
    studio = await BookingStudio(api, "loop-yoga").setup()
    harbour = await studio.post("/locations", {"name": "Harbour", "address": {"city": "Cape Town"}})
    # Booking open for the whole of next week whatever day this runs (the default window,
    # 7 days, would leave next Friday closed).
    open_ = {"booking_window_hours": 24 * 14}
    yoga = await studio.make_class(name="Sunrise Flow", price=12000, credits_required=1, **open_)
    pilates = await studio.make_class(
        name="Core Pilates", class_type="pilates", instructor_id=None, room_id=None, **open_
    )
    spin = await studio.make_class(
        name="Night Spin",
        class_type="spin",
        instructor_id=None,
        room_id=None,
        location_id=harbour["id"],
        credits_required=2,
        **open_,
    )
    return {
        "studio": studio,
        "harbour": harbour["id"],
        "yoga": await studio.schedule_at(yoga["id"], at(NEXT_MONDAY, 7)),
        "pilates": await studio.schedule_at(pilates["id"], at(NEXT_MONDAY + timedelta(2), 13)),
        "spin": await studio.schedule_at(
            spin["id"], at(NEXT_MONDAY + timedelta(4), 18, 30), location_id=harbour["id"]
        ),
    }


def names(page: httpx.Response) -> list[str]:
    return re.findall(r'/classes/[0-9a-f-]+"><strong>([^<]+)</strong>', page.text)


async def test_a_week_with_prices_and_book_buttons(web: httpx.AsyncClient, week) -> None:
    page = await web.get(URL, params={"week": NEXT_MONDAY.isoformat()})
    assert page.status_code == 200
    assert names(page) == ["Sunrise Flow", "Core Pilates", "Night Spin"]
    text = html.unescape(page.text)
    assert "1 credit or ZAR 120.00" in text and "2 credits" in text
    # Signed out, Book leads to the class page's booking form.
    assert f'href="/s/loop-yoga/classes/{week["yoga"]["id"]}#book"' in page.text
    assert "Week of" in text and text.count('class="day') == 7

    studio = week["studio"]
    assert (await _login(web, studio.member["email"], "secret123")).status_code == 303
    await studio.give_credits(studio.member, 3)
    page = await web.get(URL, params={"week": NEXT_MONDAY.isoformat()})
    action = f'action="/s/loop-yoga/classes/{week["yoga"]["id"]}/book"'
    assert action in page.text  # signed in: booked straight from the timetable
    token = CSRF.search(page.text).group(1)
    booked = await web.post(
        f"/s/loop-yoga/classes/{week['yoga']['id']}/book", data={"csrf_token": token}
    )
    assert booked.status_code == 303 and booked.headers["location"].startswith("/my/bookings/")
    page = await web.get(URL, params={"week": NEXT_MONDAY.isoformat()})
    assert action not in page.text and "Booked ✓" in page.text


async def test_filters_are_kept_in_the_query_string(web: httpx.AsyncClient, week) -> None:
    studio = week["studio"]
    base = {"week": NEXT_MONDAY.isoformat()}
    sipho = studio.instructor["user"]["id"]
    for params, expected in [
        ({"type": "pilates"}, ["Core Pilates"]),
        ({"type": "Pilates"}, ["Core Pilates"]),
        ({"instructor": sipho}, ["Sunrise Flow"]),
        ({"time": "morning"}, ["Sunrise Flow"]),
        ({"time": "afternoon"}, ["Core Pilates"]),
        ({"time": "evening"}, ["Night Spin"]),
        ({"location": week["harbour"]}, ["Night Spin"]),
        ({"location": week["harbour"], "time": "afternoon"}, []),
        ({"type": "yoga", "instructor": sipho, "time": "morning"}, ["Sunrise Flow"]),
    ]:
        page = await web.get(URL, params={**base, **params})
        assert page.status_code == 200, params
        assert names(page) == expected, params
    page = await web.get(URL, params={**base, "type": "spin", "time": "evening"})
    # Every link keeps the filters: the weeks either side, and each filter's removal.
    following = (NEXT_MONDAY + timedelta(days=7)).isoformat()
    assert f'href="{URL}?week={following}&amp;type=spin&amp;time=evening"' in page.text
    assert f'href="{URL}?week={NEXT_MONDAY.isoformat()}&amp;time=evening"' in page.text
    assert 'aria-label="Remove the filter Spin"' in page.text
    assert re.search(r'<option value="evening" selected>', page.text)

    empty = await web.get(URL, params={**base, "type": "spin", "time": "morning"})
    text = html.unescape(empty.text)
    assert "No classes match these filters this week." in text
    assert f'href="{URL}?week={NEXT_MONDAY.isoformat()}">show every class this week' in text

    quiet = await web.get(URL, params={"week": (NEXT_MONDAY + timedelta(days=21)).isoformat()})
    assert "No classes this week." in html.unescape(quiet.text)


async def test_unknown_filters_are_named_and_dropped(
    web: httpx.AsyncClient, week, owner_db: Owner, api
) -> None:
    other = await BookingStudio(api, "other-loop").setup()
    base = {"week": NEXT_MONDAY.isoformat()}
    member = week["studio"].member["user"]["id"]
    for params, message in [
        ({"instructor": "sipho"}, "That instructor is not on this studio's timetable"),
        ({"instructor": member}, "That instructor is not on this studio's timetable"),
        ({"instructor": other.instructor["user"]["id"]}, "That instructor is not on this"),
        ({"location": "../etc"}, "That location is not on this studio's timetable"),
        ({"location": other.location_id}, "That location is not on this studio's timetable"),
        ({"time": "night"}, "Choose morning, afternoon or evening"),
        ({"type": "boxing"}, "This studio has no “boxing” classes"),
    ]:
        page = await web.get(URL, params={**base, **params})
        assert page.status_code == 400, params
        assert message in html.unescape(page.text), params
        assert names(page) == ["Sunrise Flow", "Core Pilates", "Night Spin"], params
    too_long = await web.get(URL, params={**base, "instructor": "x" * 200})
    assert too_long.status_code == 400 and "That instructor is not" in html.unescape(too_long.text)
    for mangled in ("31-02-2026", "2026-13-01", "x" * 300):
        page = await web.get(URL, params={"week": mangled})
        assert page.status_code == 200 and "(this week)" in page.text


async def test_a_class_not_open_for_booking_yet_says_when_it_opens(
    web: httpx.AsyncClient, week
) -> None:
    """Booking opens the class's booking window before it (7 days by default): until
    then the card and the class page say when, instead of offering Book."""
    studio = week["studio"]
    later = NEXT_MONDAY + timedelta(days=14)
    template = await studio.make_class(name="Far Flow", instructor_id=None, room_id=None)
    far = await studio.schedule_at(template["id"], at(later, 9))
    page = await web.get(URL, params={"week": later.isoformat()})
    card = page.text[page.text.index("Far Flow") :]
    card = card[: card.index("</li>")]
    opens = (at(later, 9) - timedelta(hours=168)).strftime("%a %d %b %H:%M")
    assert f"Booking opens {opens}" in card and "#book" not in card
    class_page = await web.get(f"/s/loop-yoga/classes/{far['id']}")
    assert 'id="booking-opens"' in class_page.text and f"Booking opens {opens}" in class_page.text
