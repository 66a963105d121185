"""Seed 002's owner scenario in a real browser: the owner creates a recurring class and it
appears on the public timetable; the dashboard at phone and desktop widths."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import _studio


def _sign_in(page: Page, base: str, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()


def test_the_owner_creates_a_recurring_class_that_members_then_see(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _studio(live_server, owner_db)
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_in(page, live_server, "/s/loop-yoga/admin/classes")
    expect(page.get_by_role("heading", name="Classes and timetable")).to_be_visible()

    page.get_by_role("button", name="Add class").click()  # empty: errors by the fields
    expect(page.locator("#name-error")).to_be_visible()
    page.get_by_label("Name").fill("Sunrise Flow")
    page.get_by_label("Type").fill("yoga")
    page.get_by_label("Instructor").select_option(label="Thandi Test")
    page.get_by_label("Level").select_option(label="Beginner")
    page.get_by_label("Card price").fill("120.50")
    page.get_by_role("button", name="Add class").click()
    expect(page.get_by_role("status")).to_contain_text("The class is added")
    assert owner_db.rows(
        "SELECT price, difficulty_level, instructor_id IS NOT NULL FROM classes "
        "WHERE name = 'Sunrise Flow'"
    ) == [(12050, "beginner", True)]

    next_week = (datetime.now(UTC) + timedelta(days=7)).date()
    page.get_by_label("Mon").check()
    page.get_by_label("Wed").check()
    page.get_by_label(re.compile("^At")).fill("06:30")
    page.get_by_label("From", exact=True).fill(next_week.isoformat())
    shot(page, "admin-classes-desktop")
    page.get_by_role("button", name="Add to the timetable").click()

    # The confirmation stays in the admin area, with the way to the public timetable.
    expect(page.locator("#added")).to_contain_text("dates added to the timetable")
    page.get_by_role("link", name="See that week on the timetable").click()
    expect(page.get_by_role("heading", name="Timetable")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Sunrise Flow")).first).to_be_visible()
    assert owner_db.value("SELECT count(*) FROM class_schedules") > 10  # a year, materialised

    # Signed out, a visitor sees the same classes on the public timetable.
    page.context.clear_cookies()
    later = next_week + timedelta(days=7)  # a whole week of the series
    page.goto(f"{live_server}/s/loop-yoga/timetable?week={later.isoformat()}")
    expect(page.get_by_role("link", name=re.compile("Sunrise Flow")).first).to_be_visible()
    expect(page.get_by_text("06:30").first).to_be_visible()


def test_the_dashboard_at_phone_and_desktop_widths(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _studio(live_server, owner_db)
    _sign_in(page, live_server, "/s/loop-yoga/admin")
    expect(page.get_by_text("full this week")).to_be_visible()
    expect(page.get_by_role("img", name="Places booked in the next 7 days")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "dashboard-desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    shot(page, "dashboard-phone")
