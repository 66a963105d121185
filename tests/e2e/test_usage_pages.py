"""Usage at phone width, in a real browser: the owner opens Usage from the studio's menu
and sees the daily chart and the customer near their cap; a member sees their tier and
bars on My membership. Events go in through the ingestion service, as the API would."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from studioloop import wiring
from studioloop.config import get_settings
from studioloop.db.engine import create_database
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.usage import ingestion
from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _studio

PHONE = {"width": 390, "height": 844}


def ingest(owner_url: str, owner_db: Owner, events: list[dict[str, Any]]) -> None:
    """Loop Yoga takes in `events` through the ingestion service, in a thread of its own
    (the browser tests' event loop belongs to Playwright)."""
    tenant_id = owner_db.value("SELECT id FROM tenants WHERE slug = 'loop-yoga'")
    failure: list[BaseException] = []

    async def run() -> None:
        wiring.wire()
        database = create_database(get_settings(), owner_url=owner_url)
        try:
            async with database.sessionmaker() as session:
                await enter_tenant_for_transaction(session, tenant_id)
                result = await ingestion.ingest(session, tenant_id, "Africa/Johannesburg", events)
                await session.commit()
            assert not result.rejected, result.rejected
        finally:
            await database.dispose()

    def thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:  # handed to the test's thread
            failure.append(error)

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join(timeout=60)
    if failure:
        raise failure[0]


def _on_tier(owner_db: Owner, email: str, plan: str, started_days_ago: int) -> None:
    """The member's subscription as billing leaves it after the first payment."""
    owner_db.rows(
        "INSERT INTO subscriptions (tenant_id, user_id, plan_id, status, provider, created_at, "
        "current_period_start, current_period_end) "
        "SELECT p.tenant_id, u.id, p.id, 'active', 'sandbox', now() - make_interval(days => %s), "
        "now() - make_interval(days => %s), now() - make_interval(days => %s) + interval '1 month' "
        "FROM users u, membership_plans p WHERE u.email = %s AND p.name = %s RETURNING id",
        started_days_ago,
        started_days_ago,
        started_days_ago,
        email,
        plan,
    )


def _events(email: str, name: str, days_ago: list[int]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "event_id": uuid.uuid4().hex,
            "customer": email,
            "event": name,
            "timestamp": (now - timedelta(days=days, minutes=5)).isoformat(),
        }
        for days in days_ago
    ]


def _sign_in(page: Page, base: str, email: str, target: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login?next={target}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{target}*")


def test_the_owner_sees_usage_and_a_member_their_bars_on_a_phone(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    for meter in (
        {
            "slug": "checkins",
            "name": "Video check-ins",
            "event_name": "checkin",
            "unit": "check-ins",
        },
        {"slug": "reviews", "name": "AI form reviews", "event_name": "review", "unit": "reviews"},
    ):
        made = httpx.post(f"{studio}/usage/meters", headers=auth, json=meter)
        assert made.status_code == 201, made.text
    caps = {"checkins": 8, "reviews": {"included": 30, "hard": False, "overage_unit_price": 500}}
    plan = httpx.post(
        f"{studio}/membership-plans",
        headers=auth,
        json={"name": "Coach Pro", "price": 29900, "usage_caps": caps},
    )
    assert plan.status_code == 201, plan.text
    people = {"naledi": "Naledi", "sipho": "Sipho", "lerato": "Lerato"}
    for handle, first_name in people.items():
        person = _person(base, owner_db, f"{handle}@example.com", first_name)
        joined = httpx.post(f"{studio}/join", headers={"Authorization": person["Authorization"]})
        assert joined.status_code == 201, joined.text
    _on_tier(owner_db, "naledi@example.com", "Coach Pro", 20)
    _on_tier(owner_db, "sipho@example.com", "Coach Pro", 12)
    ingest(
        owner_url,
        owner_db,
        [
            *_events("naledi@example.com", "checkin", [19, 15, 11, 8, 5, 2, 0]),
            *_events("naledi@example.com", "review", [d % 20 for d in range(24)]),
            *_events("sipho@example.com", "checkin", [9, 3]),
            *_events("sipho@example.com", "review", [d % 12 for d in range(36)]),
            *_events("lerato@example.com", "checkin", [0, 0]),
        ],
    )

    page.set_viewport_size(PHONE)
    _sign_in(page, base, "owner@example.com", "/s/loop-yoga/admin")
    page.get_by_role("navigation", name="Studio admin").first.get_by_role(
        "link", name="Usage"
    ).click()
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    near = page.locator("#near")
    expect(near.get_by_text("Sipho Test")).to_be_visible()  # 36 of 30 reviews, soft cap
    expect(near.get_by_text("Video check-ins: 7 of 8 check-ins (87%)")).to_be_visible()
    expect(near.get_by_text("Lerato Test")).to_have_count(0)
    chart = page.get_by_role("img", name="Video check-ins per day, last 30 days (check-ins)")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() == 30
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "usage-owner-phone")

    # One customer's trend, from the top consumers.
    page.locator("#top").get_by_role("link", name="Naledi Test").first.click()
    expect(page.get_by_role("heading", name="Last 30 days: Naledi Test")).to_be_visible()
    shot(page, "usage-owner-one-customer-phone")

    _sign_in(page, base, "naledi@example.com", "/s/loop-yoga/membership")
    usage = page.locator("#usage")
    expect(usage.get_by_role("heading", name="My usage")).to_be_visible()
    expect(usage.locator("#usage-tier")).to_have_text("Your tier: Coach Pro")
    checkins = usage.locator("#usage-checkins")
    expect(checkins).to_contain_text("7 of 8 check-ins used")
    expect(checkins).to_contain_text("87% used.")
    expect(checkins).to_have_class("usage-line usage-warn")
    expect(usage.locator("#usage-reviews")).to_contain_text("24 of 30 reviews used")
    expect(usage.locator("#usage-reviews")).to_contain_text("Billed past this: ZAR 5.00 each")
    expect(checkins).to_contain_text("Resets on")
    usage.scroll_into_view_if_needed()
    shot(page, "usage-member-phone")

    _sign_in(page, base, "sipho@example.com", "/s/loop-yoga/membership")
    expect(page.locator("#usage-reviews")).to_contain_text("Past what your tier includes")
    expect(page.locator("#usage-reviews")).to_have_class("usage-line usage-over")
    shot(page, "usage-member-over-phone")
