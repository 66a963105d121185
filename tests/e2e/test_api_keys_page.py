"""The owner makes an API key on a phone (390x844), copies it from the one page that
shows it, sees it listed by its prefix only, uses it, and revokes it after a
confirmation; an instructor gets the refusal page."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_journeys_to_the_end import PHONE, _sign_in
from tests.e2e.test_sandbox_checkout import _person, _studio

SECRET = re.compile(r"^sl_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$")


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"


def test_the_owner_makes_copies_and_revokes_a_key_on_a_phone(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    base = live_server
    studio, auth = _studio(base, owner_db)
    page.set_viewport_size(PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _sign_in(page, base, "owner@example.com", "/s/loop-yoga/admin/settings")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    # Nothing ticked: refused, nothing made.
    page.get_by_label("Name").fill("Coach app")
    page.get_by_role("button", name="Make the key").click()
    expect(page.get_by_text("Choose at least one thing the key may do.")).to_be_visible()

    page.get_by_label("Read members, staff and invitations").check()
    page.get_by_label("Read the bookings of a class").check()
    page.get_by_role("button", name="Make the key").click()
    expect(page.get_by_role("heading", name="Your new key: copy it now")).to_be_visible()
    secret = page.get_by_label('Key "Coach app"').input_value()
    assert SECRET.match(secret), secret
    _no_sideways_scroll(page)
    shot(page, "api-keys-1-created-once")
    page.get_by_role("button", name="Copy the key").click()
    expect(page.locator("#new-key-secret-copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    # The key works on the API.
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{studio}/members", headers=headers).status_code == 200

    # Shown once: the list has its prefix, never the secret.
    page.goto(f"{base}/s/loop-yoga/admin/api-keys")
    assert secret not in page.content()
    prefix = secret.split("_")[2]
    card = page.locator("#keys li").filter(has_text="Coach app")
    expect(card).to_contain_text(f"sl_live_{prefix}_")
    expect(card).to_contain_text("members:read")
    expect(card).to_contain_text("Made by Thandi")
    expect(card).to_contain_text("Last used")
    _no_sideways_scroll(page)
    shot(page, "api-keys-2-listed")

    card.get_by_role("link", name="Revoke the key Coach app").click()
    expect(page.get_by_role("heading", name='Revoke "Coach app"?')).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "api-keys-3-confirm-revoke")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_role("status").filter(has_text="Key revoked")).to_be_visible()
    expect(page.locator("#keys li").filter(has_text="Coach app")).to_contain_text("revoked")
    shot(page, "api-keys-4-revoked")
    refused = httpx.get(f"{studio}/members", headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "API_KEY_REVOKED"

    # An instructor is told the page is for the owner and admins.
    instructor = _person(base, owner_db, "sipho@example.com", "Sipho")
    assert (
        httpx.post(
            f"{studio}/join", headers={"Authorization": instructor["Authorization"]}
        ).status_code
        == 201
    )
    promoted = httpx.patch(
        f"{studio}/members/{instructor['user_id']}", headers=auth, json={"role": "instructor"}
    )
    assert promoted.status_code == 200, promoted.text
    page.context.clear_cookies()
    _sign_in(page, base, "sipho@example.com", "/s/loop-yoga/admin/api-keys")
    expect(page.get_by_text("owner and admins")).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "api-keys-5-instructor-refused")
