"""Sign-up, verification and password reset as web forms, with their unhappy paths."""

from __future__ import annotations

import httpx
import pytest

from studioloop.app import create_app
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login


@pytest.fixture
async def web(database, settings):
    app = create_app(settings.model_copy(update={"environment": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


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
        "next": "/my/bookings",
    }
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
    for field in ("first_name", "email", "password"):
        assert f'id="{field}-error"' in response.text
    assert 'aria-invalid="true"' in response.text


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
