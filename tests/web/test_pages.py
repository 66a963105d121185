"""Server-rendered pages over HTTP: sign-in form, CSRF, the development outbox."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from studioloop.app import create_app
from tests.conftest import Api, Owner

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def dev_client(database, settings):
    app = create_app(settings.model_copy(update={"environment": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


async def _login(client: httpx.AsyncClient, email: str, password: str, next: str = "/"):
    page = await client.get("/login")
    token = CSRF.search(page.text).group(1)
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": next}
    )


async def test_home_lists_studios(api: Api, dev_client) -> None:
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga", name="Loop Yoga", address={"city": "Cape Town"})
    page = await dev_client.get("/")
    assert page.status_code == 200
    assert "Loop Yoga" in page.text and "Cape Town" in page.text
    assert 'href="/login' in page.text


async def test_sign_in_sets_a_safe_session_cookie(api: Api, dev_client) -> None:
    user = await api.signup("amara@example.com")
    response = await _login(dev_client, user["email"], "secret123")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "sl_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost; Secure everywhere else
    home = await dev_client.get("/")
    assert "Sign out" in home.text


async def test_wrong_password_shows_the_error_on_the_form(api: Api, dev_client) -> None:
    user = await api.signup()
    response = await _login(dev_client, user["email"], "not-it-1")
    assert response.status_code == 400
    assert "The email or password is incorrect." in response.text
    assert "sl_session" not in response.headers.get("set-cookie", "")

    empty = await _login(dev_client, "", "")
    assert 'id="email-error"' in empty.text and 'id="password-error"' in empty.text


async def test_form_posts_need_the_csrf_token(api: Api, dev_client) -> None:
    user = await api.signup()
    await dev_client.get("/login")
    forged = await dev_client.post(
        "/login", data={"email": user["email"], "password": "secret123", "csrf_token": "guess"}
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "CSRF_FAILED"
    assert "sl_session" not in forged.headers.get("set-cookie", "")


async def test_redirect_after_login_stays_on_this_site(api: Api, dev_client) -> None:
    user = await api.signup()
    response = await _login(dev_client, user["email"], "secret123", next="//evil.example.com/")
    assert response.headers["location"] == "/"


async def test_outbox_is_for_the_operator_in_development(
    api: Api, dev_client, client, owner_db: Owner
) -> None:
    assert (await dev_client.get("/dev/outbox")).headers["location"].startswith("/login")
    member = await api.signup("member@example.com")
    operator = await api.signup("ops@example.com")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = 'ops@example.com'")

    await _login(dev_client, member["email"], "secret123")
    assert (await dev_client.get("/dev/outbox")).status_code == 403
    dev_client.cookies.clear()

    await _login(dev_client, operator["email"], "secret123")
    outbox = await dev_client.get("/dev/outbox")
    assert outbox.status_code == 200
    assert "member@example.com" in outbox.text
    email_id = owner_db.value("SELECT id FROM notifications WHERE recipient = 'member@example.com'")
    message = await dev_client.get(f"/dev/outbox/{email_id}")
    assert owner_db.latest_code("member@example.com") in message.text

    # Outside development the outbox does not exist, even for the operator.
    assert (await client.get("/dev/outbox")).status_code == 404
    api_outbox = await client.get("/api/v1/dev/outbox", headers=operator["headers"])
    assert api_outbox.status_code == 404


async def test_outbox_api_in_development(api: Api, dev_client, owner_db: Owner) -> None:
    member = await api.signup("member@example.com")
    operator = await api.signup("ops@example.com")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = 'ops@example.com'")
    forbidden = await dev_client.get("/api/v1/dev/outbox", headers=member["headers"])
    assert forbidden.status_code == 403
    listing = await dev_client.get(
        "/api/v1/dev/outbox", headers=operator["headers"], params={"to": "member@example.com"}
    )
    assert listing.status_code == 200
    assert [m["recipient"] for m in listing.json()] == ["member@example.com"]


async def _invite(api: Api, owner: dict, email: str, role: str = "instructor") -> None:
    response = await api.client.post(
        "/api/v1/tenants/loop-yoga/members",
        headers=owner["headers"],
        json={"email": email, "first_name": "Naledi", "last_name": "Khumalo", "role": role},
    )
    assert response.status_code == 201, response.text


async def test_invitation_link_signs_in_then_accepts(api: Api, dev_client, owner_db: Owner) -> None:
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga", name="Loop Yoga")
    await _invite(api, owner, "naledi@example.com")
    token = owner_db.latest_invitation_token("naledi@example.com")
    naledi = await api.signup("naledi@example.com")

    page = await dev_client.get("/accept-invite", params={"token": token})
    assert page.status_code == 200
    assert "Join Loop Yoga" in page.text and "as an instructor" in page.text
    login_link = f'href="/login?next={quote(f"/accept-invite?token={token}", safe="")}"'
    assert login_link in page.text
    assert 'action="/accept-invite"' not in page.text  # no form until signed in

    signed_in = await _login(
        dev_client, naledi["email"], "secret123", next=f"/accept-invite?token={token}"
    )
    assert signed_in.headers["location"] == f"/accept-invite?token={token}"
    page = await dev_client.get(signed_in.headers["location"])
    assert 'action="/accept-invite"' in page.text and f'value="{token}"' in page.text

    forged = await dev_client.post("/accept-invite", data={"token": token, "csrf_token": "x"})
    assert forged.status_code == 403
    assert owner_db.value("SELECT count(*) FROM user_tenant_roles WHERE user_id IS NULL") == 1

    accepted = await dev_client.post(
        "/accept-invite", data={"token": token, "csrf_token": CSRF.search(page.text).group(1)}
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/"
    assert owner_db.rows(
        "SELECT role, status FROM user_tenant_roles WHERE user_id = %s", naledi["user"]["id"]
    ) == [("instructor", "active")]

    used = await dev_client.get("/accept-invite", params={"token": token})
    assert used.status_code == 404
    assert "does not exist or has already been used" in used.text
    again = await dev_client.post(
        "/accept-invite", data={"token": token, "csrf_token": CSRF.search(page.text).group(1)}
    )
    assert again.status_code == 404 and 'role="alert"' in again.text


async def test_invitation_page_for_unknown_and_expired_links(
    api: Api, dev_client, owner_db: Owner
) -> None:
    unknown = await dev_client.get("/accept-invite", params={"token": "no-such-token-here"})
    assert unknown.status_code == 404
    assert "Invitation not available" in unknown.text
    assert (await dev_client.get("/accept-invite")).status_code == 404

    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga", name="Loop Yoga")
    await _invite(api, owner, "naledi@example.com")
    token = owner_db.latest_invitation_token("naledi@example.com")
    owner_db.rows(
        "UPDATE user_tenant_roles SET invitation_expires_at = now() - interval '1 day' "
        "WHERE user_id IS NULL"
    )
    expired = await dev_client.get("/accept-invite", params={"token": token})
    assert expired.status_code == 400
    assert "Your invitation to Loop Yoga" in expired.text and "has expired" in expired.text

    naledi = await api.signup("naledi@example.com")
    await _login(dev_client, naledi["email"], "secret123")
    csrf = CSRF.search((await dev_client.get("/login")).text).group(1)
    refused = await dev_client.post("/accept-invite", data={"token": token, "csrf_token": csrf})
    assert refused.status_code == 400 and "has expired" in refused.text
    assert owner_db.rows("SELECT status FROM user_tenant_roles WHERE user_id IS NULL") == [
        ("invited",)
    ]
    assert (
        owner_db.value(
            "SELECT count(*) FROM user_tenant_roles WHERE user_id = %s", naledi["user"]["id"]
        )
        == 0
    )


async def test_accepting_while_signed_out_goes_to_sign_in(dev_client) -> None:
    page = await dev_client.get("/login")
    csrf = CSRF.search(page.text).group(1)
    response = await dev_client.post(
        "/accept-invite", data={"token": "abc-def-ghi-jkl", "csrf_token": csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccept-invite%3Ftoken%3Dabc-def-ghi-jkl"
