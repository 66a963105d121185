"""The chat widget on a studio's own website: one script tag, a visitor writes, the studio
answers, the answer appears in the widget."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import _studio
from tests.fakes.server import ThreadedFake


class StudioWebsite(ThreadedFake):
    """Another origin: the studio's own site, with StudioLoop's one-line embed."""

    def __init__(self, studioloop: str) -> None:
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        html = (
            "<!doctype html><html><head><title>Loop Yoga</title></head><body>"
            "<h1>Welcome to Loop Yoga</h1>"
            f'<script src="{studioloop}/widget/chat.js" data-studio="loop-yoga" async></script>'
            "</body></html>"
        )

        async def home(request: object) -> HTMLResponse:
            return HTMLResponse(html)

        super().__init__([Route("/", home)])


def test_a_visitor_chats_from_the_studios_website(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    api, owner = _studio(live_server, owner_db)
    with StudioWebsite(live_server) as website:
        page.set_viewport_size({"width": 1024, "height": 760})
        page.goto(website.url)
        page.get_by_role("button", name="Chat with us").click()
        chat = page.frame_locator("#studioloop-chat")
        chat.get_by_label("Your name").fill("Thabo")
        chat.get_by_label("Email").fill("thabo@example.com")
        chat.get_by_role("button", name="Start chatting").click()
        chat.get_by_label("Message").fill("Do you have showers?")
        chat.get_by_role("button", name="Send").click()
        expect(chat.locator("#messages")).to_contain_text("Do you have showers?")

        room_id = owner_db.value("SELECT id FROM chat_rooms")
        assert owner_db.value("SELECT subject FROM chat_rooms") == "Do you have showers?"
        answered = httpx.post(
            f"{api}/chat/rooms/{room_id}/messages", headers=owner, json={"body": "Yes, two."}
        )
        assert answered.status_code == 201
        expect(chat.locator("#messages")).to_contain_text("Yes, two.")
        shot(page, "chat-widget-desktop")


def test_a_visitor_on_a_phone_is_greeted_sees_typing_gets_the_reply_and_closes(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _studio(live_server, owner_db)
    # The owner finds the embed code on Settings and chooses the reply time.
    staff = page.context.browser.new_context(viewport={"width": 390, "height": 844})
    desk = staff.new_page()
    desk.goto(f"{live_server}/login?next=/s/loop-yoga/admin/settings")
    desk.get_by_label("Email").fill("owner@example.com")
    desk.get_by_label("Password").fill("member123")
    desk.get_by_role("button", name="Sign in").click()
    snippet = desk.get_by_label("Embed code")
    expect(snippet).to_have_value(re.compile(r'/widget/chat\.js" data-studio="loop-yoga" async'))
    desk.get_by_role("button", name="Copy the code").click()
    expect(desk.locator("#embed-snippet-copied")).to_contain_text(re.compile("Copied|Selected"))
    desk.get_by_label("In the chat, we usually reply").select_option(label="within an hour")
    desk.get_by_role("button", name="Save").first.click()
    expect(desk.get_by_role("status").first).to_contain_text("Saved")
    desk.locator("#widget-heading").scroll_into_view_if_needed()
    shot(desk, "chat-embed-settings-phone")

    with StudioWebsite(live_server) as website:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(website.url)
        page.get_by_role("button", name="Chat with us").click()
        chat = page.frame_locator("#studioloop-chat")
        expect(chat.locator("#greeting")).to_contain_text("we usually reply within an hour")
        chat.get_by_label("Your name").fill("Thabo Nkosi")
        chat.get_by_label("Email").fill("thabo@example.com")
        chat.get_by_role("button", name="Start chatting").click()
        chat.get_by_label("Message").fill("Do you have showers?")
        chat.get_by_role("button", name="Send").click()
        expect(chat.locator("#messages")).to_contain_text("Do you have showers?")

        # The staff inbox: who wrote (name, email) and when, on the studio's clock.
        desk.goto(f"{live_server}/s/loop-yoga/staff/inbox")
        desk.get_by_role("link", name="Do you have showers?").click()
        expect(desk.locator("#opener")).to_contain_text("Thabo Nkosi")
        expect(desk.locator("#opener")).to_contain_text("thabo@example.com")
        expect(desk.locator("#messages time").first).to_have_text(
            re.compile(r"\d\d \w{3} \d\d:\d\d")
        )
        desk.wait_for_timeout(500)  # the inbox's socket connects
        desk.get_by_label("Reply").press_sequentially("Yes, t", delay=50)
        expect(chat.locator("#chat-state")).to_contain_text("is typing…")
        shot(page, "chat-widget-phone-typing")
        desk.get_by_label("Reply").fill("Yes, two, with towels.")
        desk.get_by_role("button", name="Send").click()
        expect(chat.locator("#messages")).to_contain_text("Yes, two, with towels.")
        expect(chat.locator("#chat-state")).not_to_contain_text("typing")
        shot(page, "chat-widget-phone-answered")
        shot(desk, "staff-inbox-phone")

        chat.get_by_role("button", name="Close the chat").click()
        expect(page.locator("#studioloop-chat")).to_be_hidden()
        expect(page.get_by_role("button", name="Chat with us")).to_have_attribute(
            "aria-expanded", "false"
        )
        page.get_by_role("button", name="Chat with us").click()
        expect(chat.locator("#messages")).to_contain_text("Yes, two, with towels.")
    staff.close()
