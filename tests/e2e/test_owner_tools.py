"""The owner's tools walked to their end on a phone (390x844), in a real browser: prices
edited, taken off sale and reordered; a payment found, partly refunded and its receipt
opened; payouts and the Stripe status; people filtered, one of them given credits and a
note, their membership set to end."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_journeys_to_the_end import PHONE, _sign_in
from tests.e2e.test_sandbox_checkout import _person, _run_worker_until, _studio


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"


def _paid_pack(
    base: str, studio: str, auth: dict[str, str], owner_db: Owner, owner_url: str
) -> dict[str, Any]:
    """Zanele buys the Ten pack on the sandbox checkout; the worker applies it."""
    package = httpx.post(
        f"{studio}/credit-packages",
        headers=auth,
        json={"name": "Ten pack", "credits": 10, "price": 20000, "validity_days": 90},
    ).json()
    member = _person(base, owner_db, "zanele@example.com", "Zanele")
    member_auth = {"Authorization": member["Authorization"]}
    assert httpx.post(f"{studio}/join", headers=member_auth).status_code == 201
    checkout = httpx.post(
        f"{studio}/payments/credits/purchase",
        headers=member_auth,
        json={"package_id": package["id"]},
    ).json()
    page_url = checkout["checkout_url"]
    with httpx.Client() as client:
        form = client.get(page_url).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        sig = re.search(r'name="sig" value="([^"]+)"', form)
        assert token and sig
        paid = client.post(
            page_url.split("?")[0],
            data={"csrf_token": token.group(1), "sig": sig.group(1), "outcome": "pay"},
        )
    assert paid.status_code == 200, paid.text

    def balance() -> int:
        statement = httpx.get(f"{studio}/users/{member['user_id']}/credits", headers=member_auth)
        return int(statement.json()["credits_balance"])

    _run_worker_until(owner_url, lambda: balance() > 0)
    return {**member, "package": package}


def test_the_owner_runs_the_money_pages_on_a_phone(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    member = _paid_pack(base, studio, auth, owner_db, owner_url)
    httpx.post(
        f"{studio}/credit-packages",
        headers=auth,
        json={"name": "Drop-in", "credits": 1, "price": 15000},
    )
    httpx.post(
        f"{studio}/membership-plans",
        headers=auth,
        json={"name": "Eight a month", "price": 45000, "credits_per_period": 8},
    )

    page.set_viewport_size(PHONE)
    _sign_in(page, base, "owner@example.com", "/s/loop-yoga/admin/pricing")
    expect(page.get_by_role("heading", name="Prices")).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "owner-prices-phone")

    # Edit the Drop-in's price, with a typo first.
    page.get_by_text("Edit Drop-in").click()
    drop_in = page.locator("li.price-item", has_text="Drop-in")
    drop_in.get_by_label("Price (ZAR)").fill("lots")
    drop_in.get_by_role("button", name="Save Drop-in").click()
    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    expect(
        page.locator("li.price-item", has_text="Drop-in").locator(".field-error")
    ).to_contain_text("Enter an amount")
    shot(page, "owner-price-edit-error-phone")
    page.locator("li.price-item", has_text="Drop-in").get_by_label("Price (ZAR)").fill("160")
    page.get_by_role("button", name="Save Drop-in").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("li.price-item", has_text="Drop-in")).to_contain_text("ZAR 160.00")

    # Move Drop-in (fewest credits, so first) below the Ten pack, then take that off sale.
    page.get_by_role("button", name="Move Drop-in down").click()
    expect(page.get_by_role("status")).to_have_text("Order saved.")
    expect(page.locator("#packs-heading ~ ul li.price-item").first).to_contain_text("Ten pack")
    page.locator("li.price-item", has_text="Ten pack").get_by_role(
        "button", name="Take off sale"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Members keep what they already bought")
    expect(page.locator("li.price-item", has_text="Ten pack")).to_contain_text("off sale")
    _no_sideways_scroll(page)
    shot(page, "owner-prices-edited-phone")

    # Payments: filter to Zanele's, refund part of it, open the receipt.
    page.get_by_role("navigation", name="Money").get_by_role("link", name="Payments").click()
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    page.get_by_label("Member (name, email or phone)").fill("zanele@example.com")
    page.get_by_label("Status").select_option("succeeded")
    page.get_by_role("button", name="Show").click()
    card = page.locator("li.row-card", has_text="Ten pack")
    expect(card).to_have_count(1)
    _no_sideways_scroll(page)
    shot(page, "owner-payments-phone")
    with page.expect_response(lambda r: r.url.endswith("receipt.pdf")) as receipt:
        page.evaluate(
            "url => fetch(url)",
            card.get_by_role("link", name="Receipt (PDF)").get_attribute("href"),
        )
    assert receipt.value.status == 200
    assert receipt.value.headers["content-type"] == "application/pdf"
    card.get_by_text("Refund this payment").click()
    card.get_by_label("Amount (ZAR), up to 200.00").fill("250")
    card.get_by_label("Reason").fill("Moved away")
    card.get_by_role("button", name="Refund").click()
    expect(page.get_by_role("alert").first).to_contain_text("more than is left to refund")
    card = page.locator("li.row-card", has_text="Ten pack")
    card.get_by_label("Amount (ZAR), up to 200.00").fill("50")
    card.get_by_label("Reason").fill("Moved away")
    card.get_by_role("button", name="Refund").click()
    expect(page.get_by_role("status")).to_contain_text("Refunded ZAR 50.00")
    # Back on the filtered list: it is partly refunded now, so "succeeded" hides it.
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("li.row-card", has_text="Ten pack")).to_contain_text("partially refunded")
    expect(page.locator("li.row-card", has_text="Ten pack")).to_contain_text(
        "Refunded so far: ZAR 50.00"
    )
    shot(page, "owner-payment-refunded-phone")
    assert (
        owner_db.value("SELECT amount_refunded FROM payments WHERE user_id = %s", member["user_id"])
        == 5000
    )

    # Payouts: what is owed, the Stripe status and the way to connect.
    page.get_by_role("navigation", name="Money").get_by_role("link", name="Payouts").click()
    expect(page.get_by_role("heading", name="Payouts")).to_be_visible()
    expect(page.locator("#stripe-status")).to_contain_text("not connected")
    expect(page.get_by_role("button", name="Connect Stripe")).to_be_visible()
    page.get_by_role("button", name="Pay out now").click()
    expect(page.get_by_role("alert")).to_contain_text("Connect a Stripe account")
    _no_sideways_scroll(page)
    shot(page, "owner-payouts-phone")
    page.get_by_role("navigation", name="Money").get_by_role(
        "link", name="Marketplace statement"
    ).click()
    expect(page.locator("#statement-heading")).to_be_visible()


def test_the_owner_looks_after_people_on_a_phone(
    page: Page, live_server: str, owner_db: Owner, owner_url: str, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    member = _paid_pack(base, studio, auth, owner_db, owner_url)
    other = _person(base, owner_db, "sipho@example.com", "Sipho")
    assert (
        httpx.post(f"{studio}/join", headers={"Authorization": other["Authorization"]}).status_code
        == 201
    )

    page.set_viewport_size(PHONE)
    _sign_in(page, base, "owner@example.com", "/s/loop-yoga/admin/members")
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    expect(page.locator("details.invite")).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "owner-people-phone")
    page.get_by_label("Credits low (2 or fewer)").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#people")).to_contain_text("sipho@example.com")
    expect(page.locator("#people")).not_to_contain_text("zanele@example.com")
    shot(page, "owner-people-filtered-phone")
    href = page.locator("#export").get_attribute("href")
    assert href and "low=1" in href
    exported = page.evaluate("url => fetch(url).then(r => r.text())", href)
    assert "sipho@example.com" in exported and "zanele@example.com" not in exported

    page.get_by_role("link", name="Clear").click()
    page.locator("#people").get_by_role("link", name="Zanele Test").click()
    expect(page.get_by_role("heading", name="Zanele Test")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("10")
    page.get_by_text("Adjust credits").click()
    page.get_by_label("Credits (negative takes away)").fill("0")
    page.get_by_label("Reason").fill("Goodwill")
    page.get_by_role("button", name="Adjust").click()
    expect(page.locator("#credits-amount-error")).to_be_visible()
    page.get_by_label("Credits (negative takes away)").fill("2")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_role("status")).to_have_text("Credits adjusted.")
    expect(page.locator("#balance")).to_have_text("12")
    page.get_by_label("New note").fill("Prefers the front row; mind her left knee.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes")).to_contain_text("mind her left knee")
    expect(page.locator("#membership-status")).to_contain_text("No membership")
    _no_sideways_scroll(page)
    shot(page, "owner-member-phone")
    page.get_by_role("link", name="Payments").last.click()
    expect(page.locator("li.row-card", has_text="Ten pack")).to_have_count(1)
    assert member["user_id"] in page.url
