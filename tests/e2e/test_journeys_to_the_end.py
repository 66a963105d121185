"""Journeys walked to their end on a phone (390x844), in a real browser: a seat offered
from the waitlist paid for from "My bookings" and the payment result leading back to the
booking; a declined card offering "Try again"; an instructor landing on their schedule;
a member's past classes and calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _run_worker_until, _studio

PHONE = {"width": 390, "height": 844}


def _sign_in(page: Page, base: str, email: str, next_page: str | None = None) -> None:
    page.goto(f"{base}/login" + (f"?next={next_page}" if next_page else ""))
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _class(studio: str, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Reformer", "class_type": "reformer", "duration_minutes": 50, **fields}
    template = httpx.post(f"{studio}/classes", headers=auth, json=body)
    assert template.status_code == 201, template.text
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    created = httpx.post(
        f"{studio}/schedules",
        headers=auth,
        json={"class_id": template.json()["id"], "start_time": start.isoformat()},
    )
    assert created.status_code == 201, created.text
    occurrence: dict[str, Any] = created.json()["occurrences"][0]
    return occurrence


def test_a_seat_from_the_waitlist_is_paid_for_and_leads_back_to_the_booking(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    occurrence = _class(studio, auth, max_capacity=1, credits_required=1, price=18000)
    first = _person(base, owner_db, "first@example.com", "Lindiwe")
    first_auth = {"Authorization": first["Authorization"]}
    assert httpx.post(f"{studio}/join", headers=first_auth).status_code == 201
    granted = httpx.post(
        f"{studio}/users/{first['user_id']}/credits/adjustments",
        headers=auth,
        json={"amount": 1, "reason": "Welcome"},
    )
    assert granted.status_code in (200, 201), granted.text
    booked = httpx.post(
        f"{base}/api/v1/bookings", headers=first_auth, json={"class_schedule_id": occurrence["id"]}
    )
    assert booked.status_code == 201, booked.text
    _person(base, owner_db, "waiting@example.com", "Naledi")

    page.set_viewport_size(PHONE)
    _sign_in(page, base, "waiting@example.com", f"/s/loop-yoga/classes/{occurrence['id']}")
    warning = page.locator("#waitlist-warning")
    expect(warning).to_contain_text("hold it for you for 15 minutes to pay ZAR 180.00")
    shot(page, "journey-waitlist-warning-phone")
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.locator("#booked")).to_contain_text("waitlist")

    freed = httpx.delete(f"{base}/api/v1/bookings/{booked.json()['id']}", headers=first_auth)
    assert freed.status_code == 200, freed.text
    page.goto(f"{base}/my/bookings")
    expect(page.get_by_text("Your seat is held until")).to_be_visible()
    shot(page, "journey-seat-offered-phone")
    page.get_by_role("button", name="Pay now").click()
    expect(page.get_by_role("heading", name="Pay ZAR 180.00")).to_be_visible()
    page.get_by_role("button", name="Pay ZAR 180.00").click()
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_have_count(0)
    page.get_by_role("link", name="Continue").click()
    expect(page.locator("#payment-result")).to_be_visible()

    def confirmed() -> bool:
        return owner_db.value("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 1

    _run_worker_until(owner_url, confirmed)
    page.reload()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    shot(page, "journey-payment-received-phone")
    page.get_by_role("link", name="Your booking").click()
    expect(page.locator(".qr")).to_be_visible()
    expect(page.get_by_role("link", name="Add to calendar")).to_be_visible()
    shot(page, "journey-booking-after-payment-phone")


def test_a_declined_card_offers_to_try_again(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    occurrence = _class(studio, auth, max_capacity=6, credits_required=0, price=9500)
    _person(base, owner_db, "decline@example.com", "Sipho")
    page.set_viewport_size(PHONE)
    _sign_in(page, base, "decline@example.com", f"/s/loop-yoga/classes/{occurrence['id']}")
    page.get_by_role("button", name="Pay ZAR 95.00 and book").click()
    page.get_by_role("button", name="Decline the card").click()
    expect(page.get_by_role("heading", name="Payment declined")).to_be_visible()
    page.get_by_role("link", name="Continue").click()

    def failed() -> bool:
        return owner_db.value("SELECT count(*) FROM payments WHERE status = 'failed'") == 1

    _run_worker_until(owner_url, failed)
    page.reload()
    expect(page.get_by_role("heading", name="Payment declined")).to_be_visible()
    shot(page, "journey-payment-declined-phone")
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("button", name="Pay ZAR 95.00 and book")).to_be_visible()
    page.goto(f"{base}/my/bookings")
    expect(page.get_by_text("hold expired")).to_be_visible()
    expect(page.get_by_role("link", name="Cancel…")).to_have_count(0)
    shot(page, "journey-hold-released-phone")


def test_an_instructor_lands_on_their_schedule(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    teacher = _person(base, owner_db, "teacher@example.com", "Thabo")
    teacher_auth = {"Authorization": teacher["Authorization"]}
    assert httpx.post(f"{studio}/join", headers=teacher_auth).status_code == 201
    promoted = httpx.patch(
        f"{studio}/members/{teacher['user_id']}", headers=auth, json={"role": "instructor"}
    )
    assert promoted.status_code == 200, promoted.text
    _class(studio, auth, max_capacity=8, instructor_id=teacher["user_id"], name="Sunrise Flow")
    page.set_viewport_size(PHONE)
    _sign_in(page, base, "teacher@example.com")
    expect(page).to_have_url(f"{base}/s/loop-yoga/staff/schedule")
    expect(page.get_by_role("heading", name="My schedule")).to_be_visible()
    expect(page.get_by_text("Sunrise Flow")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    shot(page, "journey-instructor-schedule-phone")
    page.goto(f"{base}/s/loop-yoga/admin")
    expect(page.locator("#forbidden")).to_contain_text("an instructor at Loop Yoga")
    shot(page, "journey-instructor-forbidden-phone")


def test_a_member_finds_past_classes_and_their_calendar(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    base = live_server
    _person(base, owner_db, "history@example.com", "Ayanda")
    page.set_viewport_size(PHONE)
    _sign_in(page, base, "history@example.com", "/my/bookings")
    page.get_by_role("link", name="Past classes and attendance").click()
    expect(page.get_by_role("heading", name="Past classes")).to_be_visible()
    page.goto(f"{base}/my/bookings")
    page.get_by_role("link", name="Add your classes to your calendar").click()
    expect(page.get_by_role("link", name="Subscribe in your calendar app")).to_be_visible()
    shot(page, "journey-calendar-phone")
