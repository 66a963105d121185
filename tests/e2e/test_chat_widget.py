"""The chat widget on a studio's own website: one script tag, a visitor writes, the studio
answers, the answer appears in the widget."""

from __future__ import annotations

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
