"""A member deletes their account at phone width: the plan in plain words, the password
and a confirmation, the "deleted" page, and no way to sign in again."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_member_portal import _give_credits
from tests.e2e.test_sandbox_checkout import PASSWORD, _person, _studio


def test_a_member_deletes_their_account_and_cannot_sign_in(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    base = live_server
    api, owner = _studio(base, owner_db)
    _person(base, owner_db, "zanele@example.com", "Zanele")
    _give_credits(api, owner, owner_db, "zanele@example.com", 4)
    page.set_viewport_size({"width": 390, "height": 844})
    # The studio's owner is told what blocks them, and offered no form.
    page.goto(f"{base}/login?next=/my/account/delete")
    page.fill("#email", "owner@example.com")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/my/account/delete")
    expect(page.get_by_text("You own this studio.")).to_be_visible()
    expect(page.locator("#password")).to_have_count(0)
    shot(page, "account-delete-blocked-phone")
    page.context.clear_cookies()

    page.goto(f"{base}/login?next=/my/profile")
    page.fill("#email", "zanele@example.com")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/my/profile")
    page.get_by_role("link", name="Delete my account").click()
    page.wait_for_url(f"{base}/my/account/delete")
    expect(page.get_by_role("heading", name="What is erased")).to_be_visible()
    expect(page.get_by_text("Your credit history, under an anonymous account")).to_be_visible()
    shot(page, "account-delete-plan-phone")

    page.fill("#password", "not-my-password1")
    page.check("#confirm")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#password-error")).to_be_visible()
    assert owner_db.value("SELECT status FROM users WHERE email = 'zanele@example.com'") == "active"

    page.fill("#password", PASSWORD)
    page.check("#confirm")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"{base}/account-deleted")
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    shot(page, "account-deleted-phone")
    assert owner_db.value("SELECT count(*) FROM users WHERE email = 'zanele@example.com'") == 0
    # Signed out here, and the password opens nothing any more.
    page.goto(f"{base}/my/profile")
    page.wait_for_url(f"{base}/login**")
    page.fill("#email", "zanele@example.com")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#form-error")).to_be_visible()
    shot(page, "account-deleted-sign-in-refused-phone")
