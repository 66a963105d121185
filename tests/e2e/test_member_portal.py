"""Seed 002's member scenarios in a real browser: sign up, verify, book Morning Yoga and see
the QR code; no credits shows the error and a buy-credits button; cancelling inside the
window gives the credit back; the QR code is still there with the network cut."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Owner
from tests.e2e.conftest import wait_until
from tests.e2e.test_sandbox_checkout import _person, _studio

PASSWORD = "yoga2024"


def _timetable(base: str, owner_db: Owner) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Loop Yoga with Morning Yoga in two days at 07:00 (1 credit) and a 10-credit pack."""
    api, owner = _studio(base, owner_db)
    created = httpx.post(
        f"{api}/classes",
        headers=owner,
        json={
            "name": "Morning Yoga",
            "class_type": "yoga",
            "duration_minutes": 60,
            "max_capacity": 12,
            "credits_required": 1,
        },
    )
    assert created.status_code == 201, created.text
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=5, minute=0, second=0)
    occurrence = httpx.post(
        f"{api}/schedules",
        headers=owner,
        json={"class_id": created.json()["id"], "start_time": start.isoformat()},
    )
    assert occurrence.status_code == 201, occurrence.text
    pack = httpx.post(
        f"{api}/credit-packages",
        headers=owner,
        json={"name": "Ten pack", "credits": 10, "price": 45000, "validity_days": 60},
    )
    assert pack.status_code == 201, pack.text
    return api, owner, occurrence.json()["occurrences"][0]


def _sign_up_in_the_browser(page: Page, base: str, owner_db: Owner, email: str) -> None:
    page.goto(f"{base}/s/loop-yoga")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("First name").fill("Naledi")
    page.get_by_label("Last name").fill("Mthembu")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#password-error")).to_contain_text("at least 8 characters")
    expect(page.locator("#accept_terms-error")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    page.get_by_label("Code").fill(owner_db.latest_code(email))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("link", name="My bookings")).to_be_visible()


def _give_credits(api: str, owner: dict[str, str], owner_db: Owner, email: str, n: int) -> None:
    user_id = owner_db.value("SELECT id FROM users WHERE email = %s", email)
    joined = owner_db.value("SELECT count(*) FROM user_tenant_roles WHERE user_id = %s", user_id)
    if not joined:
        owner_db.rows(
            "INSERT INTO user_tenant_roles (tenant_id, user_id, role, status) "
            "SELECT id, %s, 'member', 'active' FROM tenants WHERE slug = 'loop-yoga'",
            user_id,
        )
    given = httpx.post(
        f"{api}/users/{user_id}/credits/adjustments",
        headers=owner,
        json={"amount": n, "reason": "Welcome pack"},
    )
    assert given.status_code == 201, given.text


def test_a_member_signs_up_books_morning_yoga_and_sees_the_code(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner, occurrence = _timetable(live_server, owner_db)
    page.set_viewport_size({"width": 360, "height": 740})
    _sign_up_in_the_browser(page, live_server, owner_db, "naledi@example.com")
    _give_credits(api, owner, owner_db, "naledi@example.com", 5)

    page.goto(f"{live_server}/s/loop-yoga/timetable?week={occurrence['start_time'][:10]}")
    expect(page.get_by_role("heading", name="Timetable")).to_be_visible()
    shot(page, "timetable-phone")
    page.get_by_role("link", name=re.compile("Morning Yoga")).first.click()
    expect(page.get_by_role("heading", name="Morning Yoga")).to_be_visible()
    shot(page, "class-phone")
    page.get_by_role("button", name=re.compile("^Book")).click()
    expect(page.locator("#booked")).to_contain_text("You're booked")
    expect(page.get_by_role("img", name="Check-in code")).to_be_visible()
    box = page.locator(".qr-large svg").bounding_box()
    assert box is not None and box["width"] >= 250  # large enough to scan at the door
    shot(page, "booked-qr-phone")
    assert owner_db.value("SELECT status FROM bookings") == "confirmed"


def test_without_credits_the_member_is_told_and_offered_a_pack(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _, _, occurrence = _timetable(live_server, owner_db)
    _person(live_server, owner_db, "broke@example.com", "Sipho")
    page.goto(f"{live_server}/login?next=/s/loop-yoga/classes/{occurrence['id']}")
    page.get_by_label("Email").fill("broke@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This class takes 1 credit; you have 0.")
    expect(page.get_by_role("button", name=re.compile("^Book"))).to_have_count(0)
    shot(page, "no-credits-phone")
    page.get_by_role("link", name="Buy credits").click()
    expect(page.get_by_role("button", name="Buy Ten pack")).to_be_visible()
    assert owner_db.value("SELECT count(*) FROM bookings") == 0


def test_cancelling_inside_the_window_gives_the_credit_back(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner, occurrence = _timetable(live_server, owner_db)
    member = _person(live_server, owner_db, "thando@example.com", "Thando")
    _give_credits(api, owner, owner_db, "thando@example.com", 2)
    booked = httpx.post(
        f"{live_server}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrence["id"]},
    )
    assert booked.status_code == 201, booked.text
    page.goto(f"{live_server}/login?next=/my/bookings")
    page.get_by_label("Email").fill("thando@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Cancel…").click()
    expect(page.locator("#consequence")).to_contain_text("your 1 credit comes back")
    shot(page, "cancel-phone")
    page.get_by_role("button", name="Yes, cancel").click()
    expect(page.get_by_role("status")).to_have_text("Your booking is cancelled.")
    balance = httpx.get(
        f"{api}/users/{member['user_id']}/credits",
        headers={"Authorization": member["Authorization"]},
    ).json()["credits_balance"]
    assert balance == 2


def test_the_code_is_there_offline(
    page: Page, context: BrowserContext, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner, occurrence = _timetable(live_server, owner_db)
    member = _person(live_server, owner_db, "offline@example.com", "Lerato")
    _give_credits(api, owner, owner_db, "offline@example.com", 1)
    httpx.post(
        f"{live_server}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrence["id"]},
    )
    page.goto(f"{live_server}/login?next=/my/bookings")
    page.get_by_label("Email").fill("offline@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My bookings")).to_be_visible()
    controlled = "!!(navigator.serviceWorker && navigator.serviceWorker.controller)"
    try:
        wait_until(page, controlled, timeout=30)
    except AssertionError:
        # On a loaded machine the worker's first install (it fetches the files it keeps)
        # can fail on a slow answer; the next page load registers it again, as a
        # member's next visit would.
        page.reload()
        wait_until(page, controlled, timeout=30)
    page.reload()  # now through the service worker, which keeps a copy
    expect(page.get_by_role("img", name=re.compile("Check-in code"))).to_be_visible()

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("img", name=re.compile("Check-in code"))).to_be_visible()
    expect(page.locator("#offline-banner")).to_be_visible()
    shot(page, "offline-qr-phone")
    context.set_offline(False)
