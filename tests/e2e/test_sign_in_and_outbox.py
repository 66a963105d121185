"""A person trying StudioLoop: signs up by API, the operator reads the code in the outbox."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Owner


def _signup(base: str, email: str) -> None:
    response = httpx.post(
        f"{base}/api/v1/auth/register",
        json={"email": email, "password": "member123", "first_name": "Zanele", "last_name": "Zulu"},
    )
    assert response.status_code == 201, response.text


def _operator(base: str, owner_db: Owner) -> None:
    _signup(base, "ops@example.com")
    code = owner_db.latest_code("ops@example.com")
    verified = httpx.post(
        f"{base}/api/v1/auth/verify", json={"email": "ops@example.com", "code": code}
    )
    assert verified.status_code == 200
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = 'ops@example.com'")


def _studio(base: str) -> None:
    token = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": "ops@example.com", "password": "member123"}
    ).json()["access_token"]
    created = httpx.post(
        f"{base}/api/v1/tenants",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": "Loop Yoga Cape Town",
            "slug": "loop-yoga",
            "email": "hello@loopyoga.example.com",
            "address": {"city": "Cape Town", "province": "Western Cape"},
        },
    )
    assert created.status_code == 201


def test_operator_reads_a_new_members_code(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _operator(live_server, owner_db)
    _studio(live_server)
    _signup(live_server, "zanele@example.com")

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live_server}/")
    expect(page.get_by_role("heading", name="Loop Yoga Cape Town")).to_be_visible()
    shot(page, "home-mobile")

    page.goto(f"{live_server}/dev/outbox")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Password").fill("wrong-password1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    shot(page, "login-error-mobile")

    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dev/outbox$"))
    expect(page.get_by_role("heading", name="Development outbox")).to_be_visible()

    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "outbox-desktop")
    page.get_by_role("row").filter(has_text="zanele@example.com").get_by_role("link").click()
    code = owner_db.latest_code("zanele@example.com")
    expect(page.locator("pre.message")).to_contain_text(code)
    shot(page, "outbox-message")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_a_member_cannot_open_the_outbox(page: Page, live_server: str, owner_db: Owner) -> None:
    _signup(live_server, "member@example.com")
    code = owner_db.latest_code("member@example.com")
    httpx.post(
        f"{live_server}/api/v1/auth/verify", json={"email": "member@example.com", "code": code}
    )
    page.goto(f"{live_server}/login?next=/dev/outbox")
    page.get_by_label("Email").fill("member@example.com")
    page.get_by_label("Password").fill("member123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Platform operators only")).to_be_visible()


def test_keyboard_users_see_focus_and_can_skip_to_content(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_api_reference_renders_in_the_browser(page: Page, live_server: str, shot) -> None:
    """The docs page runs Swagger UI from local files; it must understand OpenAPI 3.1."""
    page.goto(f"{live_server}/api/v1/docs")
    expect(page.get_by_role("heading", name=re.compile("StudioLoop API"))).to_be_visible()
    expect(page.get_by_text("/api/v1/bookings").first).to_be_visible()
    shot(page, "api-docs")
