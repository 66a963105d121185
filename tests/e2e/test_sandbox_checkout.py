"""A member buys credits on the sandbox's hosted checkout page, in a real browser; a real
`studioloop worker` applies the webhook."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner

PASSWORD = "member123"


def _person(base: str, owner_db: Owner, email: str, first_name: str) -> dict[str, str]:
    registered = httpx.post(
        f"{base}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "first_name": first_name, "last_name": "Test"},
    )
    assert registered.status_code == 201, registered.text
    verified = httpx.post(
        f"{base}/api/v1/auth/verify", json={"email": email, "code": owner_db.latest_code(email)}
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    return {"Authorization": f"Bearer {body['access_token']}", "user_id": body["user"]["id"]}


def _studio(base: str, owner_db: Owner) -> tuple[str, dict[str, str]]:
    """Loop Yoga, made by its owner: (the studio's API address, the owner's auth header)."""
    owner = _person(base, owner_db, "owner@example.com", "Thandi")
    auth = {"Authorization": owner["Authorization"]}
    created = httpx.post(
        f"{base}/api/v1/tenants",
        headers=auth,
        json={"name": "Loop Yoga", "slug": "loop-yoga", "email": "hello@loopyoga.example.com"},
    )
    assert created.status_code == 201, created.text
    return f"{base}/api/v1/tenants/loop-yoga", auth


def _run_worker_until(owner_url: str, done: Callable[[], bool]) -> None:
    """A real `studioloop worker` runs until `done()` (at most 30 s)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "studioloop.cli", "worker"],
        env={**os.environ, "DATABASE_URL": owner_url, "ENVIRONMENT": "development"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not done():
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_member_pays_on_the_sandbox_checkout(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    package = httpx.post(
        f"{studio}/credit-packages",
        headers=auth,
        json={"name": "Ten pack", "credits": 10, "price": 12500, "validity_days": 90},
    ).json()
    member = _person(base, owner_db, "zanele@example.com", "Zanele")
    member_auth = {"Authorization": member["Authorization"]}
    assert httpx.post(f"{studio}/join", headers=member_auth).status_code == 201
    checkout = httpx.post(
        f"{studio}/payments/credits/purchase",
        headers=member_auth,
        json={"package_id": package["id"]},
    ).json()

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(checkout["checkout_url"])
    expect(page.get_by_role("heading", name="Pay ZAR 125.00")).to_be_visible()
    expect(page.get_by_text("Sandbox payment provider")).to_be_visible()
    shot(page, "sandbox-checkout-mobile")
    page.get_by_role("button", name="Pay ZAR 125.00").click()
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    shot(page, "sandbox-checkout-approved-mobile")

    def balance() -> int:
        statement = httpx.get(f"{studio}/users/{member['user_id']}/credits", headers=member_auth)
        return int(statement.json()["credits_balance"])

    _run_worker_until(owner_url, lambda: balance() > 0)
    assert balance() == 10

    page.reload()
    expect(page.get_by_role("heading", name="This checkout is closed")).to_be_visible()


def test_a_member_pays_for_a_held_class_seat(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    """Booking a priced class without credits holds the seat; paying on the checkout page
    confirms the booking (applied by a real worker)."""
    base = live_server
    studio, auth = _studio(base, owner_db)
    template = httpx.post(
        f"{studio}/classes",
        headers=auth,
        json={
            "name": "Reformer",
            "class_type": "reformer",
            "duration_minutes": 50,
            "max_capacity": 6,
            "credits_required": 2,
            "price": 28000,
        },
    )
    assert template.status_code == 201, template.text
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    occurrence = httpx.post(
        f"{studio}/schedules",
        headers=auth,
        json={"class_id": template.json()["id"], "start_time": start.isoformat()},
    ).json()["occurrences"][0]
    member = _person(base, owner_db, "zanele@example.com", "Zanele")
    member_auth = {"Authorization": member["Authorization"]}
    held = httpx.post(
        f"{base}/api/v1/bookings",
        headers=member_auth,
        json={"class_schedule_id": occurrence["id"]},
    )
    assert held.status_code == 402, held.text
    details = held.json()["error"]["details"]

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(details["checkout_url"])
    expect(page.get_by_role("heading", name="Pay ZAR 280.00")).to_be_visible()
    expect(page.get_by_text("Reformer,")).to_be_visible()
    shot(page, "sandbox-class-checkout-mobile")
    page.get_by_role("button", name="Pay ZAR 280.00").click()
    expect(page.get_by_text("Your booking is confirmed in a moment")).to_be_visible()
    shot(page, "sandbox-class-checkout-approved-mobile")

    def booking() -> dict[str, Any]:
        found = httpx.get(f"{base}/api/v1/bookings/{details['booking_id']}", headers=member_auth)
        result: dict[str, Any] = found.json()
        return result

    _run_worker_until(owner_url, lambda: booking()["status"] == "confirmed")
    assert booking()["status"] == "confirmed" and booking()["qr_code"]
