"""Issue 20, points 17 and 18, walked to the end on a phone (390x844) in a real browser:
the owner describes the studio (details, opening hours, photos of the studio, a class and
a teacher with a bio) and everyone sees it on the studio page, the class page and the
marketplace; a member filters the timetable, shares the filtered week and books from it."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_journeys_to_the_end import PHONE, _sign_in
from tests.e2e.test_sandbox_checkout import _person, _studio

ZONE = ZoneInfo("Africa/Johannesburg")


def _photo(path: Path, colour: str, size: tuple[int, int] = (1800, 1200)) -> Path:
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for step in range(0, size[0], 120):
        draw.ellipse((step, size[1] // 3, step + 300, size[1] // 3 + 300), fill="#fde68a")
    image.save(path, format="JPEG", quality=85)
    return path


def _teacher(base: str, owner_db: Owner, studio: str, auth: dict[str, str]) -> str:
    person = _person(base, owner_db, "sipho@example.com", "Sipho")
    assert httpx.post(
        f"{studio}/join", headers={"Authorization": person["Authorization"]}
    ).is_success
    made = httpx.patch(
        f"{studio}/members/{person['user_id']}", headers=auth, json={"role": "instructor"}
    )
    assert made.status_code == 200, made.text
    return person["user_id"]


def _place(studio: str, auth: dict[str, str], name: str, lat: float, lng: float) -> str:
    made = httpx.post(
        f"{studio}/locations",
        headers=auth,
        json={"name": name, "address": {"city": "Cape Town"}, "latitude": lat, "longitude": lng},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _class_at(studio: str, auth: dict[str, str], start: datetime, **fields: Any) -> dict[str, Any]:
    body = {"class_type": "yoga", "duration_minutes": 60, "max_capacity": 10, **fields}
    template = httpx.post(f"{studio}/classes", headers=auth, json=body)
    assert template.status_code == 201, template.text
    extra = {"location_id": fields["location_id"]} if "location_id" in fields else {}
    created = httpx.post(
        f"{studio}/schedules",
        headers=auth,
        json={"class_id": template.json()["id"], "start_time": start.isoformat(), **extra},
    )
    assert created.status_code == 201, created.text
    occurrence: dict[str, Any] = created.json()["occurrences"][0]
    return occurrence


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_owner_describes_the_studio_and_everyone_sees_it(
    page: Page, live_server: str, owner_db: Owner, shot, tmp_path: Path
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    teacher = _teacher(base, owner_db, studio, auth)
    place = _place(studio, auth, "Sea Point", -33.9249, 18.4241)
    start = (datetime.now(ZONE) + timedelta(days=1)).replace(hour=7, minute=0, second=0)
    occurrence = _class_at(
        studio,
        auth,
        start,
        name="Sunrise Flow",
        location_id=place,
        price=12000,
        instructor_id=teacher,
    )

    page.set_viewport_size(PHONE)
    _sign_in(page, base, "owner@example.com", "/s/loop-yoga/admin/settings")
    expect(page.get_by_role("heading", name="About the studio")).to_be_visible()
    page.get_by_label("Description").fill("A warm room above the harbour.\nAll levels welcome.")
    page.get_by_label("Phone").fill("+27 21 555 0100")
    page.get_by_label("Website", exact=True).fill("loopyoga.example")
    page.get_by_label("Street").fill("12 Beach Road")
    page.get_by_label("City").fill("Cape Town")
    page.get_by_label("Country code").fill("ZA")
    page.get_by_label("Map pin: latitude").fill("-33.9249")
    page.get_by_label("Map pin: longitude").fill("18.4241")
    page.get_by_label("Monday").fill("6-12")
    page.get_by_role("button", name="Save studio details").click()
    expect(page.locator("#hours-error")).to_contain_text("Monday: “6-12” is not a time range")
    expect(page.get_by_label("Street")).to_have_value("12 Beach Road")  # nothing typed is lost
    expect(page.get_by_label("Postal code")).to_have_value("")  # and nothing is made up
    shot(page, "content-hours-error-phone")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        page.get_by_label(day).fill("06:00-12:00, 16:00-20:00")
    page.get_by_label("Saturday").fill("08:00-11:00")
    page.get_by_role("button", name="Save studio details").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()

    (tmp_path / "notes.png").write_bytes(b"not a photo")
    page.get_by_label("Add a photo").set_input_files(str(tmp_path / "notes.png"))
    page.get_by_role("button", name="Upload photo").click()
    expect(page.locator("#photos-error")).to_contain_text("not a photo we can use")
    page.get_by_label("Add a photo").set_input_files(str(_photo(tmp_path / "room.jpg", "#0f766e")))
    page.get_by_role("button", name="Upload photo").click()
    expect(page.get_by_role("button", name="Remove photo 1")).to_be_visible()
    page.get_by_label("Add a photo").set_input_files(str(_photo(tmp_path / "mats.jpg", "#7c3aed")))
    page.get_by_role("button", name="Upload photo").click()
    expect(page.get_by_role("button", name="Remove photo 2")).to_be_visible()

    page.get_by_label("Sunrise Flow").set_input_files(
        str(_photo(tmp_path / "class.jpg", "#be123c", (1200, 900)))
    )
    page.locator("#class-photos-heading ~ ul").get_by_role("button", name="Upload").click()
    expect(page.locator("#class-photos-heading ~ ul img")).to_have_count(1)
    page.get_by_label("Sipho Test: bio").fill("Sipho has taught flow for ten years.")
    page.get_by_label("Photo of Sipho Test").set_input_files(
        str(_photo(tmp_path / "sipho.jpg", "#1d4ed8", (800, 800)))
    )
    page.get_by_role("button", name="Save Sipho Test").click()
    expect(page.get_by_label("Sipho Test: bio")).to_have_value(
        "Sipho has taught flow for ten years."
    )
    _no_sideways_scroll(page)
    shot(page, "content-settings-phone")

    # Everyone sees it: the studio page ...
    page.context.clear_cookies()
    page.goto(f"{base}/s/loop-yoga")
    expect(page.get_by_text("A warm room above the harbour.")).to_be_visible()
    hero = page.locator("img.hero-photo")
    expect(hero).to_be_visible()
    assert page.evaluate("document.querySelector('img.hero-photo').naturalWidth") > 0
    assert "-400.webp" in page.evaluate("document.querySelector('img.hero-photo').currentSrc")
    map_link = page.get_by_role("link", name="Open the map (OpenStreetMap)")
    assert map_link.get_attribute("href", timeout=5000).startswith(
        "https://www.openstreetmap.org/?mlat=-33.92490&mlon=18.42410"
    )
    expect(page.locator("dl.hours")).to_contain_text("Monday06:00\u201312:00, 16:00\u201320:00")
    expect(page.get_by_role("heading", name="Sipho Test")).to_be_visible()
    page.locator("img.teacher-photo").first.scroll_into_view_if_needed()
    _no_sideways_scroll(page)
    shot(page, "content-studio-page-phone")

    # ... the class page ...
    page.get_by_role("link", name="Sunrise Flow").first.click()
    expect(page.get_by_role("heading", name="Sunrise Flow")).to_be_visible()
    expect(page.locator("img.hero-photo")).to_be_visible()
    expect(page.get_by_role("heading", name="Your teacher: Sipho Test")).to_be_visible()
    shot(page, "content-class-page-phone")

    # ... and the marketplace.
    page.goto(f"{base}/marketplace?lat=-33.92&lng=18.42&radius=5")
    result = page.locator("li.result", has_text="Sunrise Flow")
    expect(result.locator("img.result-photo")).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "content-marketplace-phone")
    assert occurrence["id"] in page.content()


def _monday_after_next() -> date:
    today = datetime.now(ZONE).date()
    return today + timedelta(days=7 - today.weekday())


def test_a_member_filters_the_timetable_shares_it_and_books(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    teacher = _teacher(base, owner_db, studio, auth)
    main = _place(studio, auth, "Sea Point", -33.9249, 18.4241)
    harbour = _place(studio, auth, "Harbour", -33.9, 18.42)
    monday = _monday_after_next()

    def at(offset: int, hour: int, minute: int = 0) -> datetime:
        day = monday + timedelta(days=offset)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)

    for offset in range(5):
        _class_at(
            studio,
            auth,
            at(offset, 7),
            name=f"Sunrise Flow {offset + 1}",
            instructor_id=teacher,
            location_id=main,
            price=12000,
        )
    _class_at(
        studio,
        auth,
        at(1, 12, 30),
        name="Lunch Pilates",
        class_type="pilates",
        location_id=main,
        credits_required=2,
    )
    spin = _class_at(
        studio,
        auth,
        at(3, 18, 30),
        name="Night Spin",
        class_type="spin",
        location_id=harbour,
        price=15000,
        booking_window_hours=720,  # bookable now, although it is next week
    )
    member = _person(base, owner_db, "naledi@example.com", "Naledi")
    assert httpx.post(
        f"{studio}/join", headers={"Authorization": member["Authorization"]}
    ).is_success
    granted = httpx.post(
        f"{studio}/users/{member['user_id']}/credits/adjustments",
        headers=auth,
        json={"amount": 3, "reason": "Welcome"},
    )
    assert granted.is_success, granted.text

    page.set_viewport_size(PHONE)
    page.goto(f"{base}/s/loop-yoga/timetable?week={monday.isoformat()}")
    expect(page.get_by_role("heading", name="Timetable")).to_be_visible()
    expect(page.get_by_text("1 credit or ZAR 120.00").first).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "timetable-week-phone")

    page.get_by_label("Time of day").select_option("evening")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"time=evening"))
    expect(page.locator("li.slot")).to_have_count(1)
    expect(page.locator("li.slot")).to_contain_text("Night Spin")
    shared = page.url
    page.get_by_label("Instructor").select_option(label="Sipho Test")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No classes match these filters this week.")).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "timetable-empty-filters-phone")
    page.get_by_role("link", name="Remove the filter Evening").click()
    expect(page.locator("li.slot")).to_have_count(5)

    # The shared link opens the same filtered week for someone signed in, who books from it.
    _sign_in(page, base, "naledi@example.com", quote(shared.removeprefix(base)))
    expect(page.locator("li.slot")).to_have_count(1)
    shot(page, "timetable-evening-signed-in-phone")
    page.get_by_role("button", name=re.compile("^Book Night Spin")).click()
    expect(page).to_have_url(re.compile(r"/my/bookings/"))
    expect(page.get_by_text("Night Spin").first).to_be_visible()
    assert (
        owner_db.value("SELECT status FROM bookings WHERE class_schedule_id = %s", spin["id"])
        == "confirmed"
    )
    shot(page, "timetable-booked-phone")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/s/loop-yoga/timetable?week={monday.isoformat()}")
    columns = page.evaluate(
        "getComputedStyle(document.querySelector('.week')).gridTemplateColumns.split(' ').length"
    )
    assert columns == 7  # a week grid on a wide screen
    shot(page, "timetable-week-desktop")
