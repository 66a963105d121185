"""The door on every phone (390x844): the camera read by the vendored jsQR where there is
no BarcodeDetector, the short code typed at the door, the door page offline after one
visit with the server's check-in window applied there, and a member's booking page
opened once shown offline."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.conftest import Owner
from tests.e2e.conftest import wait_until
from tests.e2e.test_member_portal import _give_credits
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _studio

PHONE = {"width": 390, "height": 844}
DOOR = "/s/loop-yoga/staff/checkin"


def _class_at(api: str, owner: dict[str, str], minutes_ahead: int, name: str) -> str:
    created = httpx.post(
        f"{api}/classes",
        headers=owner,
        json={
            "name": name,
            "class_type": "spin",
            "duration_minutes": 45,
            "max_capacity": 10,
            "credits_required": 1,
        },
    )
    assert created.status_code == 201, created.text
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=minutes_ahead)
    made = httpx.post(
        f"{api}/schedules",
        headers=owner,
        json={"class_id": created.json()["id"], "start_time": start.isoformat()},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["occurrences"][0]["id"])


def _book(
    base: str, api: str, owner: dict[str, str], owner_db: Owner, email: str, occurrence: str
) -> dict[str, Any]:
    member = _person(base, owner_db, email, email.split("@")[0].title())
    _give_credits(api, owner, owner_db, email, 1)
    booked = httpx.post(
        f"{base}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrence},
    )
    assert booked.status_code == 201, booked.text
    return dict(booked.json())


def _sign_in(page: Page, base: str, email: str, then: str) -> None:
    page.goto(f"{base}/login?next={then}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(then) + "$"))


def _short_code_on_the_booking_page(browser: Browser, base: str, email: str, booking: dict) -> str:
    """What the member sees under their QR, read off their own booking page."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        _sign_in(page, base, email, f"/my/bookings/{booking['id']}")
        return page.locator("#short-code").inner_text()
    finally:
        context.close()


def _y4m_of_qr(text: str, path: Path) -> Path:
    """A camera's view of the code on a phone screen: the QR on white in a 640x480 frame,
    as Y4M (4:2:0), which Chromium plays as its fake camera in a loop."""
    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=4, border=4)
    qr = Image.open(png).convert("L")
    side = min(440, qr.width * (440 // qr.width or 1))
    frame = Image.new("L", (640, 480), 90)  # a grey room around a white screen
    frame.paste(Image.new("L", (side + 40, side + 20), 255), ((640 - side - 40) // 2, 10))
    frame.paste(qr.resize((side, side), Image.NEAREST), ((640 - side) // 2, 20))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    chroma = [c.resize((320, 240)).tobytes() for c in (cb, cr)]
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(5):
            out.write(b"FRAME\n" + y.tobytes() + chroma[0] + chroma[1])
    return path


@pytest.fixture
def camera_browser(
    playwright: Playwright, browser_type_launch_args: dict[str, Any], tmp_path: Path
) -> Iterator[Any]:
    """A browser of its own whose camera shows a file (given before launch)."""
    launched: list[Browser] = []

    def launch(video: Path) -> Browser:
        args = [
            *browser_type_launch_args["args"],
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ]
        launched.append(playwright.chromium.launch(**{**browser_type_launch_args, "args": args}))
        return launched[-1]

    yield launch
    for browser in launched:
        browser.close()


def test_the_camera_reads_the_code_without_barcode_detector(
    live_server: str, owner_db: Owner, camera_browser, tmp_path: Path, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    occurrence = _class_at(api, owner, 20, "Lunch Spin")
    booking = _book(live_server, api, owner, owner_db, "ayanda@example.com", occurrence)
    browser = camera_browser(_y4m_of_qr(booking["qr_code"], tmp_path / "qr.y4m"))
    context = browser.new_context(viewport=PHONE, permissions=["camera"])
    # As on iOS Safari, Firefox and desktop Chrome: no BarcodeDetector.
    context.add_init_script("delete window.BarcodeDetector;")
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    _sign_in(page, live_server, "owner@example.com", DOOR)
    assert page.evaluate("'BarcodeDetector' in window") is False
    assert not [url for url in fetched if "jsQR" in url]  # loaded only when needed

    page.get_by_role("button", name="Scan with the camera").click()
    expect(page.locator("#scan-result")).to_have_text("Ayanda Test is checked in.")
    expect(page.get_by_text("1 of 1 checked in")).to_be_visible()
    assert [url for url in fetched if url.endswith("/static/vendor/jsqr-1.4.0/jsQR.js")]
    assert owner_db.value("SELECT check_in_time FROM bookings") is not None
    shot(page, "door-camera-jsqr-phone")
    context.close()


def test_the_short_code_typed_at_the_door(
    browser: Browser, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    occurrence = _class_at(api, owner, 20, "Lunch Spin")
    booking = _book(live_server, api, owner, owner_db, "lindiwe@example.com", occurrence)
    code = _short_code_on_the_booking_page(browser, live_server, "lindiwe@example.com", booking)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{3} [2-9A-HJKMNP-Z]{3}", code), code

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_in(page, live_server, "owner@example.com", DOOR)
    page.get_by_label("Check-in code").fill("ZZZ ZZZ" if code != "ZZZ ZZZ" else "YYY YYY")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("Check the code")
    page.get_by_label("Check-in code").fill(code.lower())
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_have_text("Lindiwe Test is checked in.")
    shot(page, "door-short-code-phone")
    page.get_by_label("Check-in code").fill(code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("was already checked in at")
    context.close()


def test_the_door_works_offline_after_one_visit(
    browser: Browser, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    # The studio's own window (10 minutes before), which the door is sent with its roster.
    owner_db.rows(
        "UPDATE tenants SET settings = settings || '{\"checkin_opens_minutes_before\": 10}' "
        "WHERE slug = 'loop-yoga'"
    )
    now_class = _class_at(api, owner, 5, "Noon Spin")
    later_class = _class_at(api, owner, 30, "Late Lunch Spin")
    soon = _book(live_server, api, owner, owner_db, "sipho@example.com", now_class)
    early = _book(live_server, api, owner, owner_db, "naledi@example.com", later_class)
    soon_code = _short_code_on_the_booking_page(browser, live_server, "sipho@example.com", soon)

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_in(page, live_server, "owner@example.com", DOOR)
    wait_until(page, "localStorage.getItem('sl-roster-loop-yoga') !== null")
    wait_until(page, f"caches.match('{DOOR}').then((hit) => !!hit)")

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Check-in")).to_be_visible()
    expect(page.locator("#offline-banner")).to_be_visible()
    # Outside its window (opens 10 minutes before a class in 30): refused offline too.
    page.get_by_label("Check-in code").fill(early["qr_code"])
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text(
        "Check-in has not opened for this class yet. It opens at"
    )
    page.get_by_label("Check-in code").fill("ZZZ-ZZZ" if soon_code != "ZZZ ZZZ" else "YYY-YYY")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("Check the code")
    expect(page.locator("#queue-state")).to_be_hidden()

    page.get_by_label("Check-in code").fill(soon_code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_have_text(
        "Sipho Test is checked in (offline; will sync)."
    )
    expect(page.locator("#queue-state")).to_have_text("1 scan(s) waiting to be sent.")
    expect(page.locator(f'[data-count="{now_class}"]')).to_have_text("1 of 1 checked in")
    page.get_by_label("Check-in code").fill(soon_code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("Sipho Test was already checked in at")
    shot(page, "door-offline-phone")
    assert owner_db.value("SELECT count(*) FROM bookings WHERE check_in_time IS NOT NULL") == 0

    # Back online, the device's copy of the page reloads itself and sends the queue.
    with page.expect_navigation():
        context.set_offline(False)  # the browser says "online" to the page
    expect(page.locator("#scan-result")).to_have_text("Synced 1 offline scan(s).")
    checked = owner_db.rows("SELECT id::text FROM bookings WHERE check_in_time IS NOT NULL")
    assert checked == [(soon["id"],)]
    context.close()


def test_a_booking_page_opened_once_works_offline(
    browser: Browser, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    occurrence = _class_at(api, owner, 120, "Evening Flow")
    booking = _book(live_server, api, owner, owner_db, "thabo@example.com", occurrence)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    # Straight to the booking (a link from the confirmation email), never "My bookings".
    path = f"/my/bookings/{booking['id']}"
    _sign_in(page, live_server, "thabo@example.com", path)
    code = page.locator("#short-code").inner_text()
    wait_until(page, f"caches.match('{path}').then((hit) => !!hit)")

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("img", name="Check-in code")).to_be_visible()
    expect(page.locator("#short-code")).to_have_text(code)
    expect(page.locator("#offline-banner")).to_be_visible()
    shot(page, "booking-offline-phone")

    page = context.new_page()
    page.goto(f"{live_server}/s/loop-yoga/timetable")  # never opened: not kept
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    expect(page.get_by_text("Sign in")).to_have_count(0)
    expect(page.get_by_text("each of your bookings with its check-in code")).to_be_visible()
    expect(page.locator("#offline-banner")).to_have_text("You are offline.")
    shot(page, "offline-page-phone")
    context.set_offline(False)
    context.close()
