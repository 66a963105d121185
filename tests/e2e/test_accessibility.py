"""Every page, checked by axe-core (vendored in tests/e2e/vendor/) at phone width, as a
visitor, a member, the owner and an instructor: no serious or critical violation.

The pages' Content Security Policy forbids injected scripts, so this test's browser
context bypasses it (`bypass_csp`); nothing else about the pages changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Owner
from tests.e2e.test_member_portal import _give_credits
from tests.e2e.test_sandbox_checkout import PASSWORD, _person
from tests.e2e.test_tour import _busy_week
from tests.e2e.test_usage_pages import ingest

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
BLOCKING = ("serious", "critical")


@pytest.fixture
def checked_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(bypass_csp=True, viewport=PHONE)
    try:
        yield context.new_page()
    finally:
        context.close()


def _violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in BLOCKING]


def _sign_in(page: Page, base: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login?next=/my/bookings")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/my/bookings")


def test_no_page_has_a_serious_accessibility_violation(
    checked_page: Page, live_server: str, owner_db: Owner, owner_url: str
) -> None:
    base = live_server
    api, owner, occurrences = _busy_week(base, owner_db)
    member = _person(base, owner_db, "naledi@example.com", "Naledi")
    _give_credits(api, owner, owner_db, "naledi@example.com", 6)
    booked = httpx.post(
        f"{base}/api/v1/bookings",
        headers={"Authorization": member["Authorization"]},
        json={"class_schedule_id": occurrences[0]},
    )
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]
    # A meter with some use: the usage page and a member's bars have something to show.
    metered = httpx.post(
        f"{api}/usage/meters",
        headers=owner,
        json={"slug": "reviews", "name": "AI reviews", "event_name": "review"},
    )
    assert metered.status_code == 201, metered.text
    ingest(
        owner_url,
        owner_db,
        [{"event_id": "a11y-1", "customer": "naledi@example.com", "event": "review"}],
    )
    occurrence = occurrences[1]
    key = httpx.post(
        f"{api}/api-keys", headers=owner, json={"name": "Website", "scopes": ["bookings:read"]}
    )
    assert key.status_code == 201, key.text
    key_id = key.json()["id"]

    pages = {
        None: [
            "/",
            "/marketplace",
            "/login",
            "/signup",
            "/s/loop-yoga",
            "/s/loop-yoga/timetable",
            f"/s/loop-yoga/classes/{occurrence}",
            "/s/loop-yoga/memberships",
            "/offline",
            "/account-deleted",
        ],
        "naledi@example.com": [
            "/my/bookings",
            f"/my/bookings/{booking_id}",
            f"/my/bookings/{booking_id}/cancel",
            "/my/bookings/past",
            "/my/calendar",
            "/my/profile",
            "/my/account/delete",
            f"/s/loop-yoga/classes/{occurrence}",
            "/s/loop-yoga/credits",
            "/s/loop-yoga/memberships",
            "/s/loop-yoga/membership",
            "/s/loop-yoga/notifications",
        ],
        "owner@example.com": [
            "/s/loop-yoga/admin",
            "/s/loop-yoga/admin/classes",
            "/s/loop-yoga/admin/places",
            "/s/loop-yoga/admin/members",
            "/s/loop-yoga/admin/pricing",
            "/s/loop-yoga/admin/settings",
            "/s/loop-yoga/admin/marketplace",
            "/s/loop-yoga/admin/usage",
            "/s/loop-yoga/admin/api-keys",
            f"/s/loop-yoga/admin/api-keys/{key_id}/revoke",
            "/s/loop-yoga/staff/checkin",
            "/s/loop-yoga/staff/inbox",
            "/s/loop-yoga/staff/schedule",
        ],
    }
    problems: dict[str, list[dict[str, Any]]] = {}
    for person, paths in pages.items():
        if person is None:
            checked_page.context.clear_cookies()
        else:
            _sign_in(checked_page, base, person)
        for path in paths:
            response = checked_page.goto(f"{base}{path}")
            assert response is not None and response.status < 400, (person, path)
            found = _violations(checked_page)
            if found:
                problems[f"{person or 'visitor'} {path}"] = found
    assert not problems, json.dumps(problems, indent=1)
