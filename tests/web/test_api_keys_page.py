"""The owner's API keys page: make a key (its secret shown once), see it listed without
its secret, revoke it after a confirmation; instructors and members get the refusal page."""

from __future__ import annotations

import re

import httpx
import pytest

from studioloop.app import create_app
from tests.conftest import Api, Owner
from tests.scheduling.conftest import Studio
from tests.web.test_pages import CSRF, _login

SECRET = re.compile(r"sl_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
async def web(database, settings):
    app = create_app(settings.model_copy(update={"environment": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


@pytest.fixture
async def studio(api: Api) -> Studio:
    return await Studio(api, "key-loop").setup(name="Key Loop")


PAGE = "/s/key-loop/admin/api-keys"


async def _token(web: httpx.AsyncClient, path: str = PAGE) -> str:
    page = await web.get(path)
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)


async def test_the_owner_makes_sees_once_and_revokes_a_key(
    web: httpx.AsyncClient, studio: Studio, owner_db: Owner
) -> None:
    await _login(web, studio.owner["email"], "secret123")
    empty = await web.get(PAGE)
    assert "No keys yet." in empty.text and "<h1>API keys</h1>" in empty.text
    made = await web.post(
        PAGE,
        data={
            "csrf_token": await _token(web),
            "name": "Coach app",
            "scopes": ["members:read", "bookings:read"],
        },
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    [secret] = set(SECRET.findall(made.text))
    assert "only time the key is shown" in made.text

    # The key works on the API, and the page never shows the secret again.
    works = await web.get(
        "/api/v1/tenants/key-loop/members", headers={"Authorization": f"Bearer {secret}"}
    )
    assert works.status_code == 200, works.text
    listed = await web.get(PAGE)
    assert secret not in listed.text and "Coach app" in listed.text
    prefix = secret.split("_")[2]
    assert f"sl_live_{prefix}_" in listed.text and "Last used" in listed.text

    key_id = owner_db.value("SELECT id FROM api_keys WHERE prefix = %s", prefix)
    confirm = await web.get(f"{PAGE}/{key_id}/revoke")
    assert confirm.status_code == 200 and "stops working at once" in confirm.text
    token = CSRF.search(confirm.text).group(1)
    revoked = await web.post(f"{PAGE}/{key_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{PAGE}?revoked=1"
    after = await web.get(revoked.headers["location"])
    assert "Key revoked" in after.text and "revoked</span>" in after.text
    refused = await web.get(
        "/api/v1/tenants/key-loop/members", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401


async def test_a_form_without_a_name_or_scope_makes_nothing(
    web: httpx.AsyncClient, studio: Studio, owner_db: Owner
) -> None:
    await _login(web, studio.owner["email"], "secret123")
    token = await _token(web)
    for data, words in (
        ({"name": "", "scopes": ["members:read"]}, "Give the key a name"),
        ({"name": "Script"}, "Choose at least one"),
        ({"name": "Script", "scopes": ["root:all"]}, "Choose from the list"),
        ({"name": "x" * 101, "scopes": ["members:read"]}, "100 characters"),
    ):
        response = await web.post(PAGE, data={"csrf_token": token, **data})
        assert response.status_code == 400, response.text
        assert words in response.text
        assert not SECRET.search(response.text)
    no_csrf = await web.post(PAGE, data={"name": "Script", "scopes": ["members:read"]})
    assert no_csrf.status_code == 403
    assert owner_db.value("SELECT count(*) FROM api_keys") == 0


async def test_instructors_and_members_get_the_refusal_page(
    web: httpx.AsyncClient, studio: Studio, owner_db: Owner
) -> None:
    for person in (studio.instructor, studio.member):
        web.cookies.clear()
        await _login(web, person["email"], "secret123")
        page = await web.get(PAGE)
        assert page.status_code == 403
        assert "owner and admins" in page.text
        token = CSRF.search((await web.get("/login")).text).group(1)
        posted = await web.post(
            PAGE, data={"csrf_token": token, "name": "Mine", "scopes": ["members:read"]}
        )
        assert posted.status_code == 403
    assert owner_db.value("SELECT count(*) FROM api_keys") == 0
