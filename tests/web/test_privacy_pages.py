"""Deleting an account from the pages: the member's "Delete my account", the operator's
search and erase, and their refusals."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, Api, Owner
from tests.web.test_pages import CSRF, _login


async def test_a_member_deletes_their_account(
    api: Api, web: httpx.AsyncClient, owner_db: Owner
) -> None:
    assert (await web.get("/my/account/delete")).headers["location"].startswith("/login?next=")
    member = await api.signup(first_name="Ayanda")
    await _login(web, member["email"], PASSWORD)
    profile = await web.get("/my/profile")
    assert 'href="/my/account/delete"' in profile.text
    page = await web.get("/my/account/delete")
    assert page.status_code == 200
    assert "What is erased" in page.text and "What is kept" in page.text
    token = CSRF.search(page.text).group(1)

    unticked = await web.post(
        "/my/account/delete", data={"csrf_token": token, "password": PASSWORD}
    )
    assert unticked.status_code == 400 and 'id="confirm-error"' in unticked.text
    wrong = await web.post(
        "/my/account/delete", data={"csrf_token": token, "password": "nope12345", "confirm": "1"}
    )
    assert wrong.status_code == 400 and 'id="password-error"' in wrong.text
    assert (
        owner_db.value("SELECT status FROM users WHERE id = %s", member["user"]["id"]) == "active"
    )
    no_csrf = await web.post("/my/account/delete", data={"password": PASSWORD, "confirm": "1"})
    assert no_csrf.status_code == 403

    done = await web.post(
        "/my/account/delete", data={"csrf_token": token, "password": PASSWORD, "confirm": "1"}
    )

    assert done.status_code == 303 and done.headers["location"] == "/account-deleted"
    assert 'sl_session=""' in done.headers["set-cookie"]
    assert (
        owner_db.value("SELECT status FROM users WHERE id = %s", member["user"]["id"]) == "erased"
    )
    assert "Your account was deleted" in (await web.get("/account-deleted")).text
    again = await _login(web, member["email"], PASSWORD)
    assert again.status_code == 400


async def test_blockers_are_shown_without_the_form(api: Api, web: httpx.AsyncClient) -> None:
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await _login(web, owner["email"], PASSWORD)
    page = await web.get("/my/account/delete")
    assert "You own this studio" in page.text
    assert 'name="password"' not in page.text


async def test_the_operator_finds_and_erases_an_account(
    api: Api, web: httpx.AsyncClient, owner_db: Owner
) -> None:
    member = await api.signup(first_name="Zinhle")
    outsider = await api.signup()
    await _login(web, outsider["email"], PASSWORD)
    assert (await web.get("/admin/platform/users")).status_code == 403
    operator = await api.signup(first_name="Operator")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE id = %s", operator["user"]["id"])
    await _login(web, operator["email"], PASSWORD)
    platform = await web.get("/admin/platform")
    assert 'href="/admin/platform/users"' in platform.text
    found = await web.get("/admin/platform/users", params={"email": member["email"][:12]})
    assert f"/admin/platform/users/{member['user']['id']}" in found.text
    page = await web.get(f"/admin/platform/users/{member['user']['id']}")
    token = CSRF.search(page.text).group(1)
    action = f"/admin/platform/users/{member['user']['id']}/erase"
    short = await web.post(action, data={"csrf_token": token, "reason": "x"})
    assert short.status_code == 400 and 'id="reason-error"' in short.text

    unconfirmed = await web.post(action, data={"csrf_token": token, "reason": "Ticket 42"})
    assert unconfirmed.status_code == 400 and 'id="confirm-error"' in unconfirmed.text
    assert owner_db.value("SELECT status FROM users WHERE id = %s", member["user"]["id"]) != (
        "erased"
    )

    erased = await web.post(
        action, data={"csrf_token": token, "reason": "Ticket 42", "confirm": "1"}
    )

    assert erased.status_code == 303
    shown = await web.get(erased.headers["location"])
    assert 'id="erased"' in shown.text and "Ticket 42" in shown.text
    assert (
        owner_db.value(
            "SELECT requested_by FROM erasure_records WHERE user_id = %s", member["user"]["id"]
        )
        == f"operator:{operator['user']['id']}"
    )
