"""An owner on a phone runs a class: gives it a place, adds a date, sees who is booked,
sends a substitute and cancels the date with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_owner_pages import _sign_in
from tests.e2e.test_sandbox_checkout import _person, _studio


def test_an_owner_runs_a_class_from_a_phone(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    place = httpx.post(
        f"{api}/locations",
        headers=owner,
        json={
            "name": "Main studio",
            "address": {"city": "Cape Town"},
            "latitude": -33.92,
            "longitude": 18.42,
        },
    ).json()
    httpx.post(
        f"{api}/locations/{place['id']}/rooms",
        headers=owner,
        json={"name": "Studio A", "capacity": 20},
    )
    teacher = _person(live_server, owner_db, "sipho@example.com", "Sipho")
    httpx.post(f"{api}/join", headers={"Authorization": teacher["Authorization"]})
    httpx.patch(f"{api}/members/{teacher['user_id']}", headers=owner, json={"role": "instructor"})
    member = _person(live_server, owner_db, "zanele@example.com", "Zanele")
    auth = {"Authorization": member["Authorization"]}
    assert httpx.post(f"{api}/join", headers=auth).status_code == 201
    httpx.post(
        f"{api}/users/{member['user_id']}/credits/adjustments",
        headers=owner,
        json={"amount": 5, "reason": "Welcome"},
    )

    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, live_server, "/s/loop-yoga/admin/classes")
    expect(page.get_by_text("will not find this class").first).to_be_visible()
    page.get_by_label("Name").fill("Power Hour")
    page.get_by_label("Type").fill("hiit")
    page.locator("#location_id").select_option(label="Main studio")
    page.locator("#room_id").select_option(label="Main studio · Studio A (20 places)")
    page.get_by_role("button", name="Add class").click()
    expect(page.get_by_role("status")).to_contain_text("The class is added")

    # A single date tomorrow: the confirmation stays here.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    page.get_by_label("Day").fill(tomorrow.isoformat())
    page.get_by_label("Time (").fill("18:00")
    shot(page, "class-admin-phone-classes")
    page.get_by_role("button", name="Add this date").click()
    expect(page.locator("#added")).to_contain_text("1 date added to the timetable")
    assert owner_db.value("SELECT room_id IS NOT NULL FROM class_schedules")

    occurrence = str(owner_db.value("SELECT id FROM class_schedules"))
    booked = httpx.post(
        f"{live_server}/api/v1/bookings", headers=auth, json={"class_schedule_id": occurrence}
    )
    assert booked.status_code == 201, booked.text

    page.get_by_role("link", name="Power Hour").click()
    expect(page.get_by_role("heading", name="Power Hour")).to_be_visible()
    page.get_by_label("Level").select_option(label="Advanced")
    page.get_by_label("Instructor").select_option(label="Sipho Test")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("The class is saved")
    assert owner_db.rows("SELECT difficulty_level, instructor_id::text FROM classes") == [
        ("advanced", teacher["user_id"])
    ]

    page.get_by_role("link", name="Power Hour").click()
    date = page.locator(f"#date-{occurrence}")
    expect(date).to_contain_text("1 of 12 booked")
    date.get_by_text("Roster (1)").click()
    expect(date).to_contain_text("Zanele Test")
    date.get_by_text("Substitute teacher").click()
    date.get_by_label("Who teaches this date").select_option(label="Thandi Test")
    shot(page, "class-admin-phone-date")
    date.get_by_role("button", name="Change the teacher").click()
    expect(page.get_by_role("status")).to_contain_text("The teacher for that date is changed")
    expect(page.locator(f"#date-{occurrence}")).to_contain_text("substitute")

    date = page.locator(f"#date-{occurrence}")
    date.get_by_text("Cancel this date").first.click()
    date.get_by_role("button", name="Cancel this date").click()  # no reason: refused
    expect(page.locator(f"#reason-{occurrence}-error")).to_be_visible()
    assert owner_db.value("SELECT status FROM class_schedules") == "scheduled"
    page.locator(f"#reason-{occurrence}").fill("The teacher is ill")
    page.locator(f"#date-{occurrence}").get_by_role("button", name="Cancel this date").click()
    expect(page.get_by_role("status")).to_contain_text("The date is cancelled")
    expect(page.locator(f"#date-{occurrence}")).to_contain_text("The teacher is ill")
    assert owner_db.value("SELECT status FROM bookings") == "cancelled"
    shot(page, "class-admin-phone-cancelled")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width"
