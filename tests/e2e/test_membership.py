"""A member's membership at phone width, in a real browser: join a plan through the
sandbox checkout, see "Your plan", open My membership, upgrade (paid now, prorated),
cancel at the period's end and see when it ends. A real `studioloop worker` applies
each payment's webhook."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _run_worker_until, _studio

PHONE = {"width": 390, "height": 844}


def _plan_of(owner_db: Owner) -> str | None:
    rows = owner_db.rows(
        "SELECT p.name FROM subscriptions s JOIN membership_plans p ON p.id = s.plan_id "
        "WHERE s.status = 'active'"
    )
    return rows[0][0] if rows else None


def _pay(page: Page, owner_url: str, owner_db: Owner, amount: str, plan: str, shot, name: str):
    expect(page.get_by_text("Sandbox payment provider")).to_be_visible()
    shot(page, name)
    page.get_by_role("button", name=re.compile(rf"^Pay {re.escape(amount)}")).click()
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    _run_worker_until(owner_url, lambda: _plan_of(owner_db) == plan)
    assert _plan_of(owner_db) == plan


def test_a_member_joins_upgrades_and_cancels_on_a_phone(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    for body in (
        {"name": "Eight a month", "price": 45000, "credits_per_period": 8},
        {"name": "Twenty a month", "price": 85000, "credits_per_period": 20},
    ):
        created = httpx.post(f"{studio}/membership-plans", headers=auth, json=body)
        assert created.status_code == 201, created.text
    member = _person(base, owner_db, "zanele@example.com", "Zanele")
    joined = httpx.post(f"{studio}/join", headers={"Authorization": member["Authorization"]})
    assert joined.status_code == 201

    page.set_viewport_size(PHONE)
    page.goto(f"{base}/login?next=/s/loop-yoga/memberships")
    page.get_by_label("Email").fill("zanele@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Memberships")).to_be_visible()
    expect(page.get_by_text("It renews automatically on").first).to_be_visible()
    shot(page, "membership-plans-terms-phone")

    page.get_by_role("button", name="Join Eight a month").click()
    _pay(
        page, owner_url, owner_db, "ZAR 450.00", "Eight a month", shot, "membership-join-pay-phone"
    )

    page.goto(f"{base}/s/loop-yoga/memberships")
    mine = page.locator("li.card", has_text="Eight a month")
    expect(mine.get_by_text("Your plan")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Join"))).to_have_count(0)
    expect(page.get_by_role("link", name="Switch to this plan")).to_be_visible()
    shot(page, "membership-plans-your-plan-phone")

    page.get_by_role("link", name="My membership").first.click()
    expect(page.get_by_role("heading", name="My membership")).to_be_visible()
    expect(page.get_by_role("heading", name="Eight a month")).to_be_visible()
    expect(page.locator("#membership-status")).to_have_text("Active")
    expect(page.locator("#membership-renewal")).to_contain_text("ZAR 450.00")
    expect(page.locator("#membership-credits")).to_contain_text("8 credits this period")
    expect(page.locator("#membership-payment-method")).to_contain_text("Sandbox")
    shot(page, "membership-mine-phone")

    page.get_by_role("link", name="Switch to Twenty a month").click()
    expect(page.get_by_role("heading", name="Switch to Twenty a month?")).to_be_visible()
    expect(page.locator("#change-terms")).to_contain_text("for the rest of this period")
    shot(page, "membership-upgrade-phone")
    pay_button = page.get_by_role("button", name=re.compile(r"^Pay ZAR [0-9.,]+ and switch$"))
    due = re.search(r"ZAR [0-9.,]+", pay_button.inner_text())
    assert due
    pay_button.click()
    _pay(
        page,
        owner_url,
        owner_db,
        due.group(0),
        "Twenty a month",
        shot,
        "membership-upgrade-pay-phone",
    )

    page.goto(f"{base}/s/loop-yoga/membership")
    expect(page.get_by_role("heading", name="Twenty a month")).to_be_visible()
    expect(page.locator("#membership-renewal")).to_contain_text("ZAR 850.00")
    page.get_by_role("link", name="Cancel at the end of this period…").click()
    expect(page.locator("#consequence")).to_contain_text("keeps running until")
    shot(page, "membership-cancel-phone")
    page.get_by_role("button", name=re.compile("^Yes, end it on")).click()

    expect(page.get_by_role("status")).to_contain_text("set to end")
    end = page.locator("#membership-ends")
    expect(end).to_contain_text("nothing more is charged")
    expect(page.locator("#membership-status")).to_contain_text(
        re.compile(r"ends on \d\d \w{3} \d{4}")
    )
    expect(page.get_by_role("button", name="Keep my membership")).to_be_visible()
    shot(page, "membership-ending-phone")
    assert owner_db.value("SELECT cancel_at_period_end FROM subscriptions WHERE status = 'active'")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width} px)"
