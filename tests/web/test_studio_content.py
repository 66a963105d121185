"""The owner edits what the studio shows of itself (tenants/content.py): description,
address and map link, contact, opening hours, photos of the studio, of each class and of
its teachers with their bios; everyone sees them on the studio, class and marketplace
pages. Every bad input is a message beside the form and changes nothing."""

from __future__ import annotations

import html
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from studioloop.web.static_files import static_url
from tests.booking.conftest import BookingStudio
from tests.conftest import Owner
from tests.web.test_pages import CSRF, _login

SETTINGS = "/s/loop-yoga/admin/settings"


@pytest.fixture
async def studio(api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


async def _as(web: httpx.AsyncClient, person: dict[str, Any]) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    page = await web.get(SETTINGS)
    assert page.status_code == 200, page.text
    return str(CSRF.search(page.text).group(1))


def image(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#0f766e").save(buffer, format=fmt)
    return buffer.getvalue()


PROFILE = {
    "description": "A warm room above the harbour.\nAll levels welcome.",
    "email": "hello@loopyoga.example",
    "phone": "+27 21 555 0100",
    "website": "loopyoga.example",
    "street": "12 Beach Road",
    "city": "Cape Town",
    "province": "Western Cape",
    "postal_code": "8005",
    "country": "za",
    "latitude": "-33.9249",
    "longitude": "18.4241",
    "hours_mon": "06:00-12:00, 16:00-20:00",
    "hours_sat": "08:00-11:00",
}


async def test_the_owner_describes_the_studio(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    token = await _as(web, studio.owner)
    before = owner_db.rows("SELECT email, phone, address, settings FROM tenants")
    for field, value, message in [
        ("website", "ftp://nowhere", "Use a web address such as https://loopyoga.co.za."),
        ("hours_mon", "9-5", "Monday: “9-5” is not a time range such as 06:00-12:00."),
        ("hours_tue", "10:00-09:00", "Tuesday: “10:00-09:00” must end after it starts"),
        ("hours_wed", "06:00-12:00, 11:00-13:00", "06:00-12:00 and 11:00-13:00 overlap"),
        ("country", "South Africa", "Use the two-letter country code, such as ZA."),
        ("email", "", "Fill this in."),
        ("phone", "call me", "Use digits, spaces and + ( ) - only"),
        ("latitude", "91", "Input should be less than or equal to 90."),
        ("latitude", "north", "Input should be a valid number"),
        ("longitude", "", "Give both latitude and longitude, or neither."),
    ]:
        bad = await web.post(
            f"{SETTINGS}/profile", data={**PROFILE, field: value, "csrf_token": token}
        )
        assert bad.status_code == 400, (field, value)
        assert message in html.unescape(bad.text), (field, value)
        assert f'value="{value}"' in bad.text or field.startswith("hours") or not value
        assert 'value="None"' not in bad.text  # a field left empty stays empty
    assert owner_db.rows("SELECT email, phone, address, settings FROM tenants") == before

    saved = await web.post(f"{SETTINGS}/profile", data={**PROFILE, "csrf_token": token})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{SETTINGS}?saved=1#about-heading"
    email, phone, address, settings = owner_db.rows(
        "SELECT email, phone, address, settings FROM tenants"
    )[0]
    assert email == "hello@loopyoga.example" and phone == "+27 21 555 0100"
    assert address == {
        "street": "12 Beach Road",
        "city": "Cape Town",
        "province": "Western Cape",
        "postal_code": "8005",
        "country": "ZA",
    }
    assert settings["website"] == "https://loopyoga.example"
    assert settings["map_pin"] == {"lat": -33.9249, "lng": 18.4241}
    assert settings["opening_hours"] == {
        "mon": [["06:00", "12:00"], ["16:00", "20:00"]],
        "sat": [["08:00", "11:00"]],
    }
    form = await web.get(SETTINGS)
    assert 'value="06:00-12:00, 16:00-20:00"' in form.text  # what was saved, to edit

    page = await web.get("/s/loop-yoga")
    assert "A warm room above the harbour." in page.text
    assert 'href="https://www.openstreetmap.org/?mlat=-33.92490&amp;mlon=18.42410' in page.text
    assert 'href="tel:+27215550100"' in page.text and "mailto:hello@loopyoga.example" in page.text
    assert "<dt>Monday</dt><dd>06:00\u201312:00, 16:00\u201320:00</dd>" in page.text
    assert "<dt>Tuesday</dt><dd>Closed</dd>" in page.text
    # No map script: the page's only script is our own app.js (under its fingerprinted name).
    assert re.findall(r'<script src="([^"]+)"', page.text) == [static_url("js/app.js")]

    # Without a pin the map link searches for the address.
    await web.post(
        f"{SETTINGS}/profile",
        data={**PROFILE, "latitude": "", "longitude": "", "csrf_token": token},
    )
    page = await web.get("/s/loop-yoga")
    assert "https://www.openstreetmap.org/search?query=12%20Beach%20Road%2C%20Cape%20Town" in (
        page.text
    )


async def test_studio_photos_are_checked_resized_and_served(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    token = await _as(web, studio.owner)
    url = f"{SETTINGS}/photos"
    for name, body in [
        ("notes.png", b"not a picture"),
        ("huge.jpg", b"\xff\xd8" + b"0" * (5 * 1024 * 1024)),
        ("anim.gif", image(40, 40, "GIF")),
    ]:
        refused = await web.post(
            url, data={"csrf_token": token}, files={"photo": (name, body, "image/png")}
        )
        assert refused.status_code == 400, name
        assert "not a photo we can use" in refused.text
    none = await web.post(url, data={"csrf_token": token})
    assert none.status_code == 400 and "Choose a photo to upload." in none.text
    assert owner_db.value("SELECT settings ? 'photos' FROM tenants") is False

    uploaded = await web.post(
        url,
        data={"csrf_token": token},
        files={"photo": ("room.jpg", image(2000, 1500), "image/jpeg")},
    )
    assert uploaded.status_code == 303
    (photo,) = owner_db.value("SELECT settings->'photos' FROM tenants")
    assert photo["widths"] == [400, 800, 1600] and (photo["width"], photo["height"]) == (1600, 1200)
    for width in (400, 800, 1600):
        served = await web.get(f"/s/loop-yoga/photos/{photo['id']}-{width}.webp")
        assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
        assert "immutable" in served.headers["cache-control"]
        assert Image.open(io.BytesIO(served.content)).size == (width, width * 3 // 4)
    for missing in (
        f"{photo['id']}-1200.webp",
        "../../etc-400.webp",
        f"{uuid.uuid4().hex}-400.webp",
    ):
        assert (await web.get(f"/s/loop-yoga/photos/{missing}")).status_code == 404
    page = await web.get("/s/loop-yoga")
    assert re.search(
        rf'srcset="/s/loop-yoga/photos/{photo["id"]}-400.webp 400w, '
        rf"/s/loop-yoga/photos/{photo['id']}-800.webp 800w, "
        rf'/s/loop-yoga/photos/{photo["id"]}-1600.webp 1600w"',
        page.text,
    )
    # A small photo is never enlarged.
    await web.post(
        url,
        data={"csrf_token": token},
        files={"photo": ("s.png", image(300, 200, "PNG"), "image/png")},
    )
    small = owner_db.value("SELECT settings->'photos'->1 FROM tenants")
    assert small["widths"] == [300] and small["width"] == 300

    # Settings changed through the API with something else under "photos" show nothing.
    owner_db.rows(
        "UPDATE tenants SET settings = jsonb_set(settings, '{photos}', settings->'photos' || "
        """'[{"id": "../x", "widths": "abc"}, 7]'::jsonb)"""
    )
    assert (await web.get("/s/loop-yoga")).status_code == 200
    owner_db.rows(
        "UPDATE tenants SET settings = jsonb_set(settings, '{photos}', "
        "jsonb_path_query_array(settings->'photos', '$[0 to 1]'))"
    )
    unknown = await web.post(url, data={"csrf_token": token, "remove": uuid.uuid4().hex})
    assert unknown.status_code == 400 and "not one of this studio" in unknown.text
    removed = await web.post(url, data={"csrf_token": token, "remove": photo["id"]})
    assert removed.status_code == 303
    assert (await web.get(f"/s/loop-yoga/photos/{photo['id']}-400.webp")).status_code == 404
    assert len(owner_db.value("SELECT settings->'photos' FROM tenants")) == 1

    for _ in range(5):
        await web.post(
            url,
            data={"csrf_token": token},
            files={"photo": ("s.png", image(50, 50, "PNG"), "image/png")},
        )
    seventh = await web.post(
        url,
        data={"csrf_token": token},
        files={"photo": ("s.png", image(50, 50, "PNG"), "image/png")},
    )
    assert seventh.status_code == 400 and "up to 6 photos" in seventh.text
    assert len(owner_db.value("SELECT settings->'photos' FROM tenants")) == 6


async def test_class_and_teacher_photos_and_bios(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner, api
) -> None:
    template = await studio.make_class()
    occurrence = await studio.schedule_at(
        template["id"], datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    )
    class_id = occurrence["class"]["id"]
    token = await _as(web, studio.owner)
    jpeg = ("c.jpg", image(1000, 600), "image/jpeg")

    for target, message in [
        ("not-a-uuid", "That class is not one of this studio"),
        (str(uuid.uuid4()), "No such class in this studio."),
    ]:
        refused = await web.post(
            f"{SETTINGS}/classes/{target}/photo", data={"csrf_token": token}, files={"photo": jpeg}
        )
        assert refused.status_code == 400 and message in refused.text.replace("&#39;", "'")
    empty = await web.post(f"{SETTINGS}/classes/{class_id}/photo", data={"csrf_token": token})
    assert empty.status_code == 400 and "Choose a photo to upload." in empty.text
    nothing = await web.post(
        f"{SETTINGS}/classes/{class_id}/photo", data={"csrf_token": token, "remove": "1"}
    )
    assert nothing.status_code == 400 and "This class has no photo." in nothing.text
    done = await web.post(
        f"{SETTINGS}/classes/{class_id}/photo", data={"csrf_token": token}, files={"photo": jpeg}
    )
    assert done.status_code == 303
    photo = owner_db.value("SELECT photo FROM classes WHERE id = %s", class_id)
    assert photo["widths"] == [400, 800] and photo["width"] == 800
    class_page = await web.get(f"/s/loop-yoga/classes/{occurrence['id']}")
    assert f"/s/loop-yoga/photos/{photo['id']}-800.webp 800w" in class_page.text

    teacher = studio.instructor["user"]["id"]
    member = studio.member["user"]["id"]
    for target, data, message in [
        ("nobody", {"bio": "x"}, "That person does not teach at this studio."),
        (member, {"bio": "x"}, "That person does not teach at this studio."),
        (teacher, {"bio": "x" * 1001}, "Keep the bio to 1000 characters."),
    ]:
        refused = await web.post(
            f"{SETTINGS}/teachers/{target}", data={"csrf_token": token, **data}
        )
        assert refused.status_code == 400 and message in refused.text, target
    bad_photo = await web.post(
        f"{SETTINGS}/teachers/{teacher}",
        data={"csrf_token": token, "bio": "Teaches flow."},
        files={"photo": ("t.png", b"GIF89a nonsense", "image/png")},
    )
    assert bad_photo.status_code == 400 and "not a photo we can use" in bad_photo.text
    assert owner_db.value("SELECT bio FROM user_tenant_roles WHERE user_id = %s", teacher) is None
    saved = await web.post(
        f"{SETTINGS}/teachers/{teacher}",
        data={"csrf_token": token, "bio": "Sipho has taught flow for ten years."},
        files={"photo": ("t.jpg", image(600, 600), "image/jpeg")},
    )
    assert saved.status_code == 303
    home = await web.get("/s/loop-yoga")
    assert "Sipho has taught flow for ten years." in home.text
    class_page = await web.get(f"/s/loop-yoga/classes/{occurrence['id']}")
    assert (
        "Your teacher: Sipho" in class_page.text and "taught flow for ten years" in class_page.text
    )
    removed = await web.post(
        f"{SETTINGS}/teachers/{teacher}",
        data={"csrf_token": token, "bio": "", "remove_photo": "1"},
    )
    assert removed.status_code == 303
    assert owner_db.rows(
        "SELECT bio, photo FROM user_tenant_roles WHERE user_id = %s", teacher
    ) == [(None, None)]

    # The marketplace shows the class's photo beside the result.
    results = await web.get("/marketplace", params={"q": "Morning"})
    assert f"/s/loop-yoga/photos/{photo['id']}-400.webp" in results.text


async def test_only_the_studios_admins_change_its_content(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner, api
) -> None:
    other = await BookingStudio(api, "other-loop").setup()
    occurrence = await other.occurrence()
    before = owner_db.rows("SELECT settings FROM tenants ORDER BY slug")
    assert (await _login(web, studio.instructor["email"], "secret123")).status_code == 303
    token = str(CSRF.search((await web.get("/s/loop-yoga")).text).group(1))
    refused = await web.post(f"{SETTINGS}/profile", data={**PROFILE, "csrf_token": token})
    assert refused.status_code == 403
    await web.post("/logout", data={"csrf_token": token})

    token = await _as(web, studio.owner)
    forged = await web.post(f"{SETTINGS}/profile", data={**PROFILE, "csrf_token": "guess"})
    assert forged.status_code == 403
    theirs = await web.post(
        f"{SETTINGS}/classes/{occurrence['class']['id']}/photo",
        data={"csrf_token": token},
        files={"photo": ("c.jpg", image(500, 500), "image/jpeg")},
    )
    assert theirs.status_code == 400 and "No such class in this studio." in theirs.text
    not_theirs = await web.post(
        "/s/other-loop/admin/settings/profile", data={**PROFILE, "csrf_token": token}
    )
    assert not_theirs.status_code == 403
    assert owner_db.rows("SELECT settings FROM tenants ORDER BY slug") == before
    assert owner_db.value("SELECT count(*) FROM classes WHERE photo IS NOT NULL") == 0
