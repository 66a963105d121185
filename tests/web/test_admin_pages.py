"""Admins run the studio from the web: people, prices, settings and branding."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


async def _as(web: httpx.AsyncClient, person: dict[str, Any], page: str) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    return CSRF.search((await web.get(page)).text).group(1)


async def test_people_search_invite_and_role(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/members")
    found = await web.get("/s/loop-yoga/admin/members", params={"q": "Sipho"})
    assert "Sipho" in found.text and "Member User" not in found.text
    bad = await web.post(
        "/s/loop-yoga/admin/members/invite",
        data={"csrf_token": token, "email": "not-an-email", "first_name": "A", "last_name": "B"},
    )
    assert bad.status_code == 400 and 'id="email-error"' in bad.text
    sent = await web.post(
        "/s/loop-yoga/admin/members/invite",
        data={
            "csrf_token": token,
            "email": "lerato@example.com",
            "first_name": "Lerato",
            "last_name": "Dube",
            "role": "instructor",
        },
    )
    assert sent.status_code == 303
    assert (
        owner_db.value(
            "SELECT count(*) FROM notifications WHERE event = 'invitation' "
            "AND recipient = 'lerato@example.com'"
        )
        == 1
    )
    member_id = studio.member["user"]["id"]
    changed = await web.post(
        f"/s/loop-yoga/admin/members/{member_id}", data={"csrf_token": token, "role": "instructor"}
    )
    assert changed.status_code == 303
    assert (
        owner_db.value("SELECT role FROM user_tenant_roles WHERE user_id = %s", member_id)
        == "instructor"
    )


async def test_members_cannot_reach_admin_pages(
    web: httpx.AsyncClient, studio: BookingStudio
) -> None:
    await _as(web, studio.member, "/my/bookings")
    for path in (
        "/s/loop-yoga/admin/members",
        "/s/loop-yoga/admin/pricing",
        "/s/loop-yoga/admin/settings",
    ):
        assert (await web.get(path)).status_code == 403


async def test_prices_are_set_up_and_a_member_joins_a_membership(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/pricing")
    pack = await web.post(
        "/s/loop-yoga/admin/pricing/packs",
        data={"csrf_token": token, "name": "Five pack", "credits": "5", "price": "249.99"},
    )
    assert pack.status_code == 303
    assert owner_db.value("SELECT price FROM credit_packages WHERE name = 'Five pack'") == 24999
    bad_plan = await web.post(
        "/s/loop-yoga/admin/pricing/plans",
        data={"csrf_token": token, "name": "X", "price": "abc", "interval": "month"},
    )
    assert bad_plan.status_code == 400 and 'id="plan_name-error"' in bad_plan.text
    assert 'id="plan_price-error"' in bad_plan.text and "such as 120" in bad_plan.text
    plan = await web.post(
        "/s/loop-yoga/admin/pricing/plans",
        data={
            "csrf_token": token,
            "name": "Unlimited",
            "price": "650",
            "interval": "month",
            "unlimited": "1",
        },
    )
    assert plan.status_code == 303
    plan_id = owner_db.value("SELECT id FROM membership_plans WHERE name = 'Unlimited'")

    await web.post("/logout", data={"csrf_token": token})
    member_token = await _as(web, studio.member, "/s/loop-yoga/memberships")
    page = await web.get("/s/loop-yoga/memberships")
    assert "Join Unlimited" in page.text and "ZAR 650.00" in page.text
    joined = await web.post(
        f"/s/loop-yoga/memberships/{plan_id}", data={"csrf_token": member_token}
    )
    assert joined.status_code == 303 and "/checkout/" in joined.headers["location"]
    assert owner_db.value("SELECT status FROM subscriptions") == "incomplete"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "#ff6600").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_settings_and_branding(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/settings")
    form = {
        "csrf_token": token,
        "name": "Loop Yoga Sea Point",
        "brand_color": "#7c3aed",
        "cancellation_window_hours": "6",
        "late_cancel_policy": "refund",
        "reminder_hours": ["24"],
        "channel_email": "1",
        "channel_whatsapp": "1",
    }
    bad = await web.post("/s/loop-yoga/admin/settings", data={**form, "brand_color": "purple"})
    assert bad.status_code == 400 and 'id="brand_color-error"' in bad.text
    saved = await web.post("/s/loop-yoga/admin/settings", data=form)
    assert saved.status_code == 303
    settings = owner_db.value("SELECT settings FROM tenants WHERE slug = 'loop-yoga'")
    assert settings["brand_color"] == "#7c3aed" and settings["reminder_hours"] == [24]
    assert settings["notification_channels"] == ["whatsapp", "email"]
    public = await web.get("/s/loop-yoga")
    assert "Loop Yoga Sea Point" in public.text
    assert '<link rel="stylesheet" href="/s/loop-yoga/brand.css' in public.text
    brand = await web.get("/s/loop-yoga/brand.css")
    assert "--brand: #7c3aed" in brand.text and "--on-brand: #ffffff" in brand.text

    not_image = await web.post(
        "/s/loop-yoga/admin/settings/logo",
        data={"csrf_token": token},
        files={"logo": ("logo.png", b"not a picture", "image/png")},
    )
    assert not_image.status_code == 400
    uploaded = await web.post(
        "/s/loop-yoga/admin/settings/logo",
        data={"csrf_token": token},
        files={"logo": ("logo.png", _png(), "image/png")},
    )
    assert uploaded.status_code == 303
    assert owner_db.value("SELECT logo_key FROM tenants WHERE slug = 'loop-yoga'")
    assert re.search(
        r'<img src="/api/v1/tenants/loop-yoga/logo"', (await web.get("/s/loop-yoga")).text
    )


async def test_an_admin_cancels_a_class_from_its_page(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence()
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    token = await _as(web, studio.owner, f"/s/loop-yoga/classes/{occurrence['id']}")
    page = await web.get(f"/s/loop-yoga/classes/{occurrence['id']}")
    assert "Cancel this class" in page.text
    done = await web.post(
        f"/s/loop-yoga/admin/occurrences/{occurrence['id']}/cancel",
        data={"csrf_token": token, "reason": "Burst pipe"},
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?cancelled=1")
    assert owner_db.value("SELECT status FROM class_schedules") == "cancelled"
    assert (
        owner_db.value(
            "SELECT balance FROM credit_accounts WHERE user_id = %s", member["user"]["id"]
        )
        == 2
    )
    assert owner_db.value("SELECT count(*) FROM notifications WHERE event = 'class_cancelled'") == 1


async def test_an_admin_edits_a_class(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    made = await studio.make_class(name="Slow Flow", room_id=None, location_id=None)
    token = await _as(web, studio.owner, f"/s/loop-yoga/admin/classes/{made['id']}")
    page = await web.get(f"/s/loop-yoga/admin/classes/{made['id']}")
    assert 'value="Slow Flow"' in page.text
    form = {
        "csrf_token": token,
        "name": "Slow Flow",
        "class_type": "yoga",
        "duration_minutes": "75",
        "max_capacity": "10",
        "credits_required": "2",
        "price": "95",
    }
    bad = await web.post(
        f"/s/loop-yoga/admin/classes/{made['id']}", data={**form, "duration_minutes": "1"}
    )
    assert bad.status_code == 400 and 'id="duration_minutes-error"' in bad.text
    saved = await web.post(f"/s/loop-yoga/admin/classes/{made['id']}", data=form)
    assert saved.status_code == 303
    assert owner_db.rows(
        "SELECT duration_minutes, credits_required, price, is_active FROM classes WHERE id = %s",
        made["id"],
    ) == [(75, 2, 9500, False)]


async def test_an_admin_moves_and_ends_a_weekly_class(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    from datetime import date, timedelta

    made = await studio.make_class(name="Evening Flow", room_id=None, location_id=None)
    start = date.today() + timedelta(days=1)
    created = await studio.client.post(
        f"{studio.base}/schedules",
        headers=studio.owner["headers"],
        json={
            "class_id": made["id"],
            "local_start_time": "18:00",
            "recurrence": {"weekdays": [0, 2], "starts_on": start.isoformat(), "count": 8},
        },
    )
    assert created.status_code == 201, created.text
    series_id = owner_db.value("SELECT id FROM schedule_series")
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/classes")
    page = await web.get("/s/loop-yoga/admin/classes")
    assert "Evening Flow</strong>: Mon, Wed at 18:00" in page.text
    bad = await web.post(
        f"/s/loop-yoga/admin/series/{series_id}",
        data={"csrf_token": token, "local_start_time": "19:00"},
    )
    assert bad.status_code == 400  # from when?
    moved = await web.post(
        f"/s/loop-yoga/admin/series/{series_id}",
        data={"csrf_token": token, "apply_from": start.isoformat(), "local_start_time": "19:30"},
    )
    assert moved.status_code == 303
    assert "Mon, Wed at 19:30" in (await web.get("/s/loop-yoga/admin/classes")).text


async def test_people_come_fifty_at_a_time(
    web: httpx.AsyncClient, studio: BookingStudio, database, settings
) -> None:
    await studio.many_members(database, settings, 52, credits=0)
    await _as(web, studio.owner, "/s/loop-yoga/admin/members")
    first = await web.get("/s/loop-yoga/admin/members")
    link = re.search(r'href="(/s/loop-yoga/admin/members\?cursor=[^"]+)"', first.text)
    assert link is not None
    rest = await web.get(link.group(1).replace("&amp;", "&"))
    shown = first.text.count('class="row-card"') + rest.text.count('class="row-card"')
    assert shown == 52 + 3  # and the owner, instructor and member of the set-up
    assert "Next 50 people" not in rest.text
