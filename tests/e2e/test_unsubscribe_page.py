"""A member stops booking updates from the link in an email, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from studioloop.config import get_settings
from studioloop.notifications.unsubscribe import Unsubscribe, url_for
from tests.conftest import Owner
from tests.e2e.test_sign_in_and_outbox import _operator, _studio


def test_a_member_unsubscribes_from_the_email_link(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _operator(live_server, owner_db)
    _studio(live_server)
    user_id = owner_db.value("SELECT id FROM users WHERE email = 'ops@example.com'")
    tenant_id = owner_db.value("SELECT id FROM tenants WHERE slug = 'loop-yoga'")
    link = url_for(get_settings(), Unsubscribe(user_id, tenant_id, "booking"))
    path = link.split("/unsubscribe/", 1)[1]

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live_server}/unsubscribe/{path}")
    expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    expect(page.get_by_text("Stop booking updates")).to_contain_text("Loop Yoga Cape Town")
    shot(page, "unsubscribe-phone")
    assert owner_db.value("SELECT count(*) FROM notification_preferences") == 0  # not yet

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    shot(page, "unsubscribed-phone")
    assert owner_db.rows("SELECT booking_updates, reminders FROM notification_preferences") == [
        (False, True)
    ]

    page.goto(f"{live_server}/unsubscribe/{path[:-3]}xyz")
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
