"""Staff land on their studio after signing in; an instructor's menu and schedule show
what they may open; a refused page says what role the person has and who can change it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import Api
from tests.scheduling.conftest import Studio
from tests.web.test_pages import _login

HTML = {"accept": "text/html"}


@pytest.fixture
async def studio(api: Api) -> Studio:
    return await Studio(api, "door-loop").setup(name="Door Loop")


async def test_each_role_lands_where_its_work_is(
    web: httpx.AsyncClient, studio: Studio, api: Api
) -> None:
    landing = {}
    for name, person in (
        ("owner", studio.owner),
        ("instructor", studio.instructor),
        ("member", studio.member),
    ):
        web.cookies.clear()
        response = await _login(web, person["email"], "secret123", next="")
        assert response.status_code == 303, response.text
        landing[name] = response.headers["location"]
    assert landing == {
        "owner": "/s/door-loop/admin",
        "instructor": "/s/door-loop/staff/schedule",
        "member": "/",
    }
    # A page asked for still wins.
    web.cookies.clear()
    asked = await _login(web, studio.owner["email"], "secret123", next="/my/bookings")
    assert asked.headers["location"] == "/my/bookings"


async def test_an_instructor_sees_their_schedule_and_only_their_menu(
    web: httpx.AsyncClient, studio: Studio, api: Api
) -> None:
    template = await studio.make_class(name="Sunrise Flow")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    await studio.schedule_at(template["id"], soon)
    other = await studio.add_staff("instructor", "Lerato")
    someone_elses = await studio.make_class(name="Power Hour", instructor_id=other["user"]["id"])
    await studio.schedule_at(someone_elses["id"], soon + timedelta(hours=3))
    await _login(web, studio.instructor["email"], "secret123")
    page = await web.get("/s/door-loop/staff/schedule")
    assert page.status_code == 200
    assert "Sunrise Flow" in page.text and "Power Hour" not in page.text
    assert "0 of 12 booked" in page.text
    assert "/s/door-loop/admin/settings" not in page.text  # not theirs to open
    assert "/s/door-loop/staff/checkin" in page.text

    refused = await web.get("/s/door-loop/admin", headers=HTML)
    assert refused.status_code == 403
    assert "an instructor at Door Loop" in refused.text
    assert "owner (or an admin) can change your role" in refused.text


async def test_people_without_a_staff_role_are_told_what_they_are(
    web: httpx.AsyncClient, studio: Studio, api: Api
) -> None:
    await _login(web, studio.member["email"], "secret123")
    refused = await web.get("/s/door-loop/staff/schedule", headers=HTML)
    assert refused.status_code == 403 and "a member at Door Loop" in refused.text
    web.cookies.clear()
    stranger = await api.signup(first_name="Stranger")
    await _login(web, stranger["email"], "secret123")
    refused = await web.get("/s/door-loop/admin", headers=HTML)
    assert refused.status_code == 403 and "not one of Door Loop" in refused.text
    web.cookies.clear()
    anonymous = await web.get("/s/door-loop/staff/schedule")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/s/door-loop/staff/schedule"
