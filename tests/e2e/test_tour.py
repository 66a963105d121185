"""A tour of the main pages at phone and desktop widths (their screenshots are
docs/screenshots/), and the timetable's live spot counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_member_portal import _give_credits
from tests.e2e.test_sandbox_checkout import _person, _studio

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def _busy_week(base: str, owner_db: Owner) -> tuple[str, dict[str, str], list[str]]:
    api, owner = _studio(base, owner_db)
    classes = []
    for name, kind, credits in (("Morning Yoga", "yoga", 1), ("Lunch HIIT", "hiit", 2)):
        made = httpx.post(
            f"{api}/classes",
            headers=owner,
            json={
                "name": name,
                "class_type": kind,
                "duration_minutes": 45,
                "max_capacity": 12,
                "credits_required": credits,
            },
        )
        assert made.status_code == 201, made.text
        classes.append(made.json()["id"])
    occurrences = []
    base_day = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    for day in range(3):
        for index, class_id in enumerate(classes):
            start = base_day + timedelta(days=day, hours=index * 5)
            made = httpx.post(
                f"{api}/schedules",
                headers=owner,
                json={"class_id": class_id, "start_time": start.isoformat()},
            )
            assert made.status_code == 201, made.text
            occurrences.append(made.json()["occurrences"][0]["id"])
    httpx.post(
        f"{api}/credit-packages",
        headers=owner,
        json={"name": "Ten pack", "credits": 10, "price": 45000, "validity_days": 60},
    )
    httpx.post(
        f"{api}/membership-plans",
        headers=owner,
        json={"name": "Unlimited", "price": 65000, "unlimited": True},
    )
    return api, owner, occurrences


def _sign_in(page: Page, base: str, email: str, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()


def _both(page: Page, shot, name: str) -> None:
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)
    shot(page, f"{name}-desktop")


def test_a_tour_of_the_main_pages(page: Page, live_server: str, owner_db: Owner, shot) -> None:
    api, owner, occurrences = _busy_week(live_server, owner_db)
    member = _person(live_server, owner_db, "naledi@example.com", "Naledi")
    _give_credits(api, owner, owner_db, "naledi@example.com", 6)
    for occurrence in occurrences[:2]:
        httpx.post(
            f"{live_server}/api/v1/bookings",
            headers={"Authorization": member["Authorization"]},
            json={"class_schedule_id": occurrence},
        )

    page.goto(f"{live_server}/s/loop-yoga")
    expect(page.get_by_role("heading", name="Next classes")).to_be_visible()
    _both(page, shot, "studio-home")
    page.goto(f"{live_server}/s/loop-yoga/timetable")
    _both(page, shot, "timetable")
    page.goto(f"{live_server}/signup")
    _both(page, shot, "signup")

    _sign_in(page, live_server, "naledi@example.com", "/my/bookings")
    expect(page.get_by_role("heading", name="My bookings")).to_be_visible()
    _both(page, shot, "my-bookings")
    page.goto(f"{live_server}/s/loop-yoga/credits")
    _both(page, shot, "credits")
    page.goto(f"{live_server}/s/loop-yoga/memberships")
    _both(page, shot, "memberships")
    page.goto(f"{live_server}/s/loop-yoga/notifications")
    _both(page, shot, "notification-settings")

    page.context.clear_cookies()
    _sign_in(page, live_server, "owner@example.com", "/s/loop-yoga/admin")
    expect(page.get_by_text("full this week")).to_be_visible()
    _both(page, shot, "owner-dashboard")
    for path, name in (
        ("/s/loop-yoga/admin/classes", "owner-classes"),
        ("/s/loop-yoga/admin/members", "owner-people"),
        ("/s/loop-yoga/admin/pricing", "owner-prices"),
        ("/s/loop-yoga/admin/settings", "owner-settings"),
        ("/s/loop-yoga/staff/checkin", "staff-checkin"),
    ):
        page.goto(f"{live_server}{path}")
        _both(page, shot, name)


def test_the_timetable_shows_live_spots(page: Page, live_server: str, owner_db: Owner) -> None:
    api, owner, occurrences = _busy_week(live_server, owner_db)
    page.goto(f"{live_server}/s/loop-yoga/timetable")
    first = page.locator(f'[data-occurrence="{occurrences[0]}"]')
    expect(first).to_have_text("12 spots left")
    member = _person(live_server, owner_db, "quick@example.com", "Quick")
    _give_credits(api, owner, owner_db, "quick@example.com", 1)
    booked = httpx.post(
        f"{live_server}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrences[0]},
    )
    assert booked.status_code == 201, booked.text
    page.evaluate("refreshSpots()")  # what the page does every 30 seconds
    expect(first).to_have_text(re.compile("^11 spots left$"))
