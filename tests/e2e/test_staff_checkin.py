"""Seed 002's door scenario in a real browser: a staff member checks a member in by typing
the code (the camera's fallback) and the roster updates; with the network cut, the page
verifies the code itself, queues the scan and sends it when the connection is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Owner
from tests.e2e.conftest import wait_until
from tests.e2e.test_member_portal import _give_credits
from tests.e2e.test_sandbox_checkout import _person, _studio


def _class_starting_soon(base: str, owner_db: Owner) -> tuple[str, dict[str, str], str]:
    api, owner = _studio(base, owner_db)
    created = httpx.post(
        f"{api}/classes",
        headers=owner,
        json={
            "name": "Lunch Spin",
            "class_type": "spin",
            "duration_minutes": 45,
            "max_capacity": 10,
            "credits_required": 1,
        },
    )
    assert created.status_code == 201, created.text
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=20)
    made = httpx.post(
        f"{api}/schedules",
        headers=owner,
        json={"class_id": created.json()["id"], "start_time": start.isoformat()},
    )
    assert made.status_code == 201, made.text
    return api, owner, made.json()["occurrences"][0]["id"]


def _booked_code(
    base: str, api: str, owner: dict[str, str], owner_db: Owner, email: str, occurrence_id: str
) -> str:
    member = _person(base, owner_db, email, email.split("@")[0].title())
    _give_credits(api, owner, owner_db, email, 1)
    booked = httpx.post(
        f"{base}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrence_id},
    )
    assert booked.status_code == 201, booked.text
    return str(booked.json()["qr_code"])


def _sign_in_as_owner(page: Page, base: str) -> None:
    page.goto(f"{base}/login?next=/s/loop-yoga/staff/checkin")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Check-in")).to_be_visible()


def test_staff_check_a_member_in_by_typing_the_code(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner, occurrence_id = _class_starting_soon(live_server, owner_db)
    code = _booked_code(live_server, api, owner, owner_db, "ayanda@example.com", occurrence_id)
    page.set_viewport_size({"width": 360, "height": 740})
    _sign_in_as_owner(page, live_server)
    expect(page.get_by_text("0 of 1 checked in")).to_be_visible()
    page.get_by_label("Check-in code").fill(code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_have_text("Ayanda Test is checked in.")
    expect(page.get_by_text("1 of 1 checked in")).to_be_visible()
    shot(page, "staff-checkin-phone")
    page.get_by_label("Check-in code").fill(code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("already checked in")
    page.get_by_label("Check-in code").fill("SL1.forged.code")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("not a valid")

    # Someone without their phone: a tap on their name on the roster.
    _booked_code(live_server, api, owner, owner_db, "zola@example.com", occurrence_id)
    page.reload()
    page.get_by_role("button", name="Check in Zola").click()
    expect(page.locator("#scan-result")).to_have_text("Zola Test is checked in.")
    expect(page.get_by_text("2 of 2 checked in")).to_be_visible()


def test_offline_scans_are_verified_on_the_device_and_synced_later(
    page: Page, context: BrowserContext, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner, occurrence_id = _class_starting_soon(live_server, owner_db)
    code = _booked_code(live_server, api, owner, owner_db, "bongani@example.com", occurrence_id)
    _sign_in_as_owner(page, live_server)
    wait_until(page, "localStorage.getItem('sl-roster-loop-yoga') !== null")

    context.set_offline(True)
    page.get_by_label("Check-in code").fill(code[:-6] + "AAAAAA")  # tampered signature
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_have_text("This code is not genuine.")
    page.get_by_label("Check-in code").fill(code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator("#scan-result")).to_contain_text("checked in (offline; will sync)")
    expect(page.locator("#queue-state")).to_have_text("1 scan(s) waiting to be sent.")
    shot(page, "staff-checkin-offline")
    assert owner_db.value("SELECT check_in_time FROM bookings") is None

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#scan-result")).to_have_text("Synced 1 offline scan(s).")
    assert owner_db.value("SELECT check_in_time FROM bookings") is not None
    assert owner_db.value("SELECT count(*) FROM checkin_scans") == 1


def test_members_cannot_open_the_door_page(page: Page, live_server: str, owner_db: Owner) -> None:
    _class_starting_soon(live_server, owner_db)
    _person(live_server, owner_db, "nosy@example.com", "Nosy")
    page.goto(f"{live_server}/login?next=/s/loop-yoga/staff/checkin")
    page.get_by_label("Email").fill("nosy@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(
        page.get_by_role("heading", name="This page is for the studio's instructors")
    ).to_be_visible()
    expect(page.locator("#forbidden")).to_contain_text("not one of Loop Yoga's people")
