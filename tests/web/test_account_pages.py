"""Sign-up, verification and password reset as web forms, with their unhappy paths."""

from __future__ import annotations

import httpx

from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login


async def _token(web: httpx.AsyncClient, path: str) -> str:
    return CSRF.search((await web.get(path)).text).group(1)


async def test_sign_up_then_verify_signs_the_member_in(
    web: httpx.AsyncClient, owner_db: Owner
) -> None:
    token = await _token(web, "/signup")
    form = {
        "csrf_token": token,
        "first_name": "Naledi",
        "last_name": "Mthembu",
        "email": "naledi@example.com",
        "password": "yoga2024",
        "accept_terms": "1",
        "next": "/my/bookings",
    }
    refused = await web.post("/signup", data={k: v for k, v in form.items() if k != "accept_terms"})
    assert refused.status_code == 400 and 'id="accept_terms-error"' in refused.text
    assert owner_db.value("SELECT count(*) FROM users") == 0
    created = await web.post("/signup", data=form)
    assert created.status_code == 303 and created.headers["location"].startswith("/verify?")
    again = await web.post("/signup", data=form)
    assert again.status_code == 400 and "already" in again.text.lower()

    wrong = await web.post(
        "/verify",
        data={"csrf_token": token, "email": "naledi@example.com", "code": "000000"},
    )
    assert wrong.status_code == 400 and 'id="code-error"' in wrong.text
    assert owner_db.value("SELECT attempts FROM verification_codes") == 1  # it counted

    code = owner_db.latest_code("naledi@example.com")
    verified = await web.post(
        "/verify",
        data={
            "csrf_token": token,
            "email": "naledi@example.com",
            "code": code,
            "next": "/my/bookings",
        },
    )
    assert verified.status_code == 303 and verified.headers["location"] == "/my/bookings"
    assert "sl_session=" in verified.headers["set-cookie"]
    assert owner_db.value("SELECT terms_accepted_at IS NOT NULL FROM users") is True


async def test_bad_sign_up_fields_are_shown_next_to_the_field(web: httpx.AsyncClient) -> None:
    token = await _token(web, "/signup")
    response = await web.post(
        "/signup",
        data={
            "csrf_token": token,
            "first_name": "",
            "last_name": "X",
            "email": "nope",
            "password": "abc",
        },
    )
    assert response.status_code == 400
    for field in ("first_name", "email", "password", "accept_terms"):
        assert f'id="{field}-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    empty = await web.post("/signup", data={"csrf_token": token, "email": ""})
    assert empty.status_code == 400
    assert '<p class="field-error" id="email-error">Fill this in.</p>' in empty.text


async def test_changing_the_password_signs_out_the_other_devices(
    web: httpx.AsyncClient, api: Api, owner_db: Owner
) -> None:
    person = await api.signup("thabo@example.com")
    other_device = await api.client.post(
        "/api/v1/auth/login", json={"email": person["email"], "password": "secret123"}
    )
    refresh = other_device.json()["refresh_token"]
    login = await web.get("/login")
    await web.post(
        "/login",
        data={
            "csrf_token": CSRF.search(login.text).group(1),
            "email": person["email"],
            "password": "secret123",
            "next": "/my/password",
        },
    )
    token = await _token(web, "/my/password")
    wrong = await web.post(
        "/my/password",
        data={"csrf_token": token, "current_password": "nope1234", "new_password": "fresh2024"},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    weak = await web.post(
        "/my/password",
        data={"csrf_token": token, "current_password": "secret123", "new_password": "short"},
    )
    assert weak.status_code == 400 and 'id="new_password-error"' in weak.text
    no_csrf = await web.post(
        "/my/password",
        data={"current_password": "secret123", "new_password": "fresh2024"},
        headers={"accept": "text/html"},
    )
    assert no_csrf.status_code == 403
    changed = await web.post(
        "/my/password",
        data={"csrf_token": token, "current_password": "secret123", "new_password": "fresh2024"},
    )
    assert changed.status_code == 303
    assert (await web.get(changed.headers["location"])).status_code == 200  # still signed in
    refreshed = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert refreshed.status_code == 401  # the other device is signed out
    old = await api.client.post(
        "/api/v1/auth/login", json={"email": person["email"], "password": "secret123"}
    )
    assert old.status_code == 401
    new = await api.client.post(
        "/api/v1/auth/login", json={"email": person["email"], "password": "fresh2024"}
    )
    assert new.status_code == 200


async def test_the_api_changes_a_password_only_with_the_current_one(api: Api) -> None:
    person = await api.signup("lerato@example.com")
    url = "/api/v1/users/profile/password"
    wrong = await api.client.post(
        url,
        headers=person["headers"],
        json={"current_password": "wrong123", "new_password": "fresh2024"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "WRONG_PASSWORD"
    anonymous = await api.client.post(
        url, json={"current_password": "secret123", "new_password": "fresh2024"}
    )
    assert anonymous.status_code == 401
    done = await api.client.post(
        url,
        headers=person["headers"],
        json={"current_password": "secret123", "new_password": "fresh2024"},
    )
    assert done.status_code == 204


async def test_terms_and_privacy_pages(web: httpx.AsyncClient) -> None:
    for path, heading in (("/terms", "Terms of use"), ("/privacy", "Privacy notice")):
        page = await web.get(path)
        assert page.status_code == 200 and f"<h1>{heading}</h1>" in page.text


async def test_password_reset_in_two_steps(
    web: httpx.AsyncClient, api: Api, owner_db: Owner
) -> None:
    person = await api.signup("amara@example.com")
    token = await _token(web, "/reset")
    asked = await web.post("/reset", data={"csrf_token": token, "email": person["email"]})
    assert asked.status_code == 200 and 'id="code"' in asked.text
    code = owner_db.latest_code(person["email"])
    weak = await web.post(
        "/reset",
        data={"csrf_token": token, "email": person["email"], "code": code, "new_password": "short"},
    )
    assert weak.status_code == 400 and 'id="new_password-error"' in weak.text
    done = await web.post(
        "/reset",
        data={
            "csrf_token": token,
            "email": person["email"],
            "code": code,
            "new_password": "newyoga2025",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
    assert (await _login(web, person["email"], "newyoga2025")).status_code == 303
