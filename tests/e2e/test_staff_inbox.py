"""Staff answer a support request from the inbox; a guest's new message appears live."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import _studio


def test_staff_answer_from_the_inbox_and_see_new_messages_live(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, _owner = _studio(live_server, owner_db)
    guest = httpx.post(f"{api}/guest/token", json={"name": "Thabo", "email": "t@example.com"})
    auth = {"Authorization": f"Bearer {guest.json()['token']}"}
    room = httpx.post(
        f"{api}/chat/rooms",
        headers=auth,
        json={"subject": "Towels?", "message": "Do you rent towels?"},
    ).json()

    page.goto(f"{live_server}/login?next=/s/loop-yoga/staff/inbox")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("1 new")).to_be_visible()
    page.get_by_role("link", name="Towels?").click()
    expect(page.locator("#messages")).to_contain_text("Do you rent towels?")

    page.get_by_label("Reply").fill("Yes, R10 a towel.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("Yes, R10 a towel.")
    expect(page.get_by_text("1 new")).to_have_count(0)

    # The guest writes again; the open page shows it without a reload.
    page.wait_for_timeout(500)  # the page's socket connects
    said = httpx.post(
        f"{api}/chat/rooms/{room['id']}/messages", headers=auth, json={"body": "Great, thanks!"}
    )
    assert said.status_code == 201
    expect(page.locator("#messages")).to_contain_text("Great, thanks!")
    # Shown live with the time on the studio's clock, as the server prints the others.
    expect(page.locator("#messages time").last).to_have_text(re.compile(r"^\d\d \w{3} \d\d:\d\d$"))
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "staff-inbox-desktop")

    page.get_by_label("Status").select_option("closed")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".rooms")).to_contain_text("closed")
    assert owner_db.value("SELECT status FROM chat_rooms") == "closed"
