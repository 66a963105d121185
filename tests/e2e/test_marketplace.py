"""The marketplace in a real browser: share your location, find a class at a studio
nearby, sign in and book it with universal credits; search engines find the classes as
schema.org Events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _studio

SEA_POINT = {"latitude": -33.9153, "longitude": 18.3856}


def _listed_class(base: str, owner_db: Owner) -> dict[str, str]:
    api, owner = _studio(base, owner_db)
    location = httpx.post(
        f"{api}/locations",
        headers=owner,
        json={
            "name": "Sea Point",
            "address": {"street": "201 Main Road", "city": "Cape Town", "country": "ZA"},
            "latitude": -33.9180,
            "longitude": 18.3870,
        },
    )
    assert location.status_code == 201, location.text
    created = httpx.post(
        f"{api}/classes",
        headers=owner,
        json={
            "name": "Sunset Flow",
            "class_type": "vinyasa",
            "duration_minutes": 60,
            "max_capacity": 12,
            "credits_required": 2,
            "price": 15000,
            "location_id": location.json()["id"],
        },
    )
    assert created.status_code == 201, created.text
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=16, minute=0, second=0)
    occurrence = httpx.post(
        f"{api}/schedules",
        headers=owner,
        json={"class_id": created.json()["id"], "start_time": start.isoformat()},
    )
    assert occurrence.status_code == 201, occurrence.text
    return dict(occurrence.json()["occurrences"][0])


def _explorer_with_universal_credits(base: str, owner_db: Owner, email: str) -> None:
    operator = _person(base, owner_db, "operator@example.com", "Olu")
    owner_db.rows(
        "UPDATE users SET is_platform_owner = true WHERE email = %s", "operator@example.com"
    )
    explorer = _person(base, owner_db, email, "Zanele")
    granted = httpx.post(
        f"{base}/api/v1/users/{explorer['user_id']}/credits/universal/adjustments",
        headers={"Authorization": operator["Authorization"]},
        json={"amount": 5, "reason": "Welcome to the marketplace", "valid_days": 30},
    )
    assert granted.status_code == 201, granted.text


def test_find_a_class_nearby_and_book_it_with_universal_credits(
    live_server: str, owner_db: Owner, browser: Browser, shot
) -> None:
    occurrence = _listed_class(live_server, owner_db)
    _explorer_with_universal_credits(live_server, owner_db, "zanele@example.com")
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        geolocation=SEA_POINT,
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Find a class near you").click()
    expect(page.get_by_role("heading", name="Find a class near you")).to_be_visible()
    page.get_by_role("button", name="Use my location").click()
    expect(page.get_by_role("heading", name="Classes near you")).to_be_visible()
    result = page.locator("li.result").filter(has_text="Sunset Flow")
    expect(result).to_contain_text("Loop Yoga")
    expect(result).to_contain_text("330 m")  # the Sea Point studio from the searcher
    expect(result).to_contain_text("2 credits")
    expect(result).to_contain_text("ZAR 150.00")
    # Search engines read the same classes as schema.org Events.
    events = json.loads(page.locator('script[type="application/ld+json"]').text_content() or "")
    assert events[0]["@type"] == "Event"
    assert events[0]["name"] == "Sunset Flow"
    assert events[0]["location"]["geo"]["latitude"] == -33.918
    assert events[0]["offers"]["price"] == "150.00"
    assert events[0]["url"].endswith(f"/s/loop-yoga/classes/{occurrence['id']}")
    shot(page, "marketplace-search")

    # Booking needs an account: sign in, come back to the same search, book.
    result.get_by_role("button", name="Sign in to book").click()
    page.get_by_label("Email").fill("zanele@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your universal credits: 5")).to_be_visible()
    expect(page.locator(".wallet")).to_contain_text("5 credits expire on")
    page.locator("li.result").filter(has_text="Sunset Flow").get_by_role(
        "button", name="Book"
    ).click()
    # Universal credits are spent only once the member has seen how many.
    expect(page.get_by_role("heading", name="Book Sunset Flow?")).to_be_visible()
    expect(page.locator("#spend")).to_contain_text("of your 5")
    shot(page, "marketplace-confirm")
    page.locator("#confirm-booking").get_by_role("button", name=re.compile("^Book for")).click()
    expect(page.locator("#booked")).to_contain_text("You're booked!")
    expect(page.locator("svg").first).to_be_visible()  # the check-in code
    shot(page, "marketplace-booked")
    page.go_back()  # the confirmation
    page.go_back()  # the search
    page.reload()
    expect(page.get_by_role("heading", name="Your universal credits: 3")).to_be_visible()
    # The class shows as booked (no second booking offered).
    booked = page.locator("li.result").filter(has_text="Sunset Flow")
    expect(booked.get_by_role("link", name="Booked ✓")).to_be_visible()
    expect(booked.get_by_role("button")).to_have_count(0)
    context.close()


def test_a_place_name_without_a_geocoder_says_what_to_do(
    live_server: str, owner_db: Owner, browser: Browser
) -> None:
    _listed_class(live_server, owner_db)
    page = browser.new_page()
    page.goto(f"{live_server}/marketplace?near=Sea+Point")
    expect(page.get_by_role("status").filter(has_text="share your location")).to_be_visible()
    # Searching by name still works everywhere, soonest first.
    page.get_by_label("Class or studio").fill("sunset flwo")
    page.get_by_label("Near").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.result")).to_contain_text("Sunset Flow")
    page.close()


def test_the_studio_sets_its_floor_keeps_a_class_private_and_reads_its_statement(
    live_server: str, owner_db: Owner, browser: Browser, shot
) -> None:
    occurrence = _listed_class(live_server, owner_db)
    _explorer_with_universal_credits(live_server, owner_db, "zanele@example.com")
    token = httpx.post(
        f"{live_server}/api/v1/auth/login",
        json={"email": "zanele@example.com", "password": PASSWORD},
    ).json()["access_token"]
    booked = httpx.post(
        f"{live_server}/api/v1/marketplace/bookings",
        headers={"Authorization": f"Bearer {token}"},
        json={"class_schedule_id": occurrence["id"]},
    )
    assert booked.status_code == 201, booked.text

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{live_server}/login?next=/s/loop-yoga/admin/marketplace")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Marketplace", exact=True)).to_be_visible()
    row = page.locator("tbody tr").filter(has_text="Sunset Flow")
    expect(row).to_contain_text("Zanele")
    expect(row).to_contain_text("2 credits")
    expect(row).to_contain_text("ZAR 85.00")  # 2 x R50 less 15%
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    assert "Sunset Flow" in download.value.path().read_text()

    page.get_by_label("Least we take home per marketplace seat (ZAR)").fill("abc")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#floor_price-error")).to_contain_text("such as 120")
    page.get_by_label("Least we take home per marketplace seat (ZAR)").fill("120")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    shot(page, "marketplace-studio")
    # R120 at R42.50 a credit after commission: 3 credits on the marketplace now.
    found = httpx.get(f"{live_server}/api/v1/marketplace/search", params={"q": "sunset"}).json()
    assert [item["credits"] for item in found["items"]] == [3]

    page.get_by_role("link", name="Classes").click()
    page.get_by_role("link", name="Sunset Flow").click()
    expect(page.get_by_text("On the marketplace it costs 3 universal credits")).to_contain_text(
        "floor price"
    )
    page.get_by_label("Private: never listed on the marketplace").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("The class is saved.")
    found = httpx.get(f"{live_server}/api/v1/marketplace/search", params={"q": "sunset"}).json()
    assert found["items"] == []
    page.close()
