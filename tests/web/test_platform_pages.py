"""The platform operator's console: studios with their figures, and suspending one."""

from __future__ import annotations

import httpx

from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login


async def test_the_operator_sees_every_studio_and_suspends_one(
    web: httpx.AsyncClient, api: Api, owner_db: Owner
) -> None:
    first = await BookingStudio(api, "loop-yoga").setup()
    await BookingStudio(api, "jozi-hiit").setup()
    member = await first.new_member(credits=2)
    occurrence = await first.occurrence()
    assert (await first.book(member, occurrence["id"])).status_code == 201
    operator = await api.signup("ops@example.com")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = 'ops@example.com'")

    assert (await _login(web, first.owner["email"], "secret123")).status_code == 303
    assert (await web.get("/admin/platform")).status_code == 403  # studio owners: no
    await web.post("/logout", data={"csrf_token": CSRF.search((await web.get("/")).text).group(1)})

    await _login(web, operator["email"], "secret123")
    page = await web.get("/admin/platform")
    assert page.status_code == 200
    assert "Loop Yoga" in page.text and "Jozi Hiit" in page.text
    assert '<span class="figure">1</span> bookings' in page.text
    token = CSRF.search(page.text).group(1)
    tenant_id = owner_db.value("SELECT id FROM tenants WHERE slug = 'jozi-hiit'")
    changed = await web.post(
        f"/admin/platform/tenants/{tenant_id}/status",
        data={"csrf_token": token, "status": "suspended"},
    )
    assert changed.status_code == 303
    assert owner_db.value("SELECT status FROM tenants WHERE slug = 'jozi-hiit'") == "suspended"
    closed = await web.get("/s/jozi-hiit", headers={"accept": "text/html"})
    assert closed.status_code in (403, 404, 423)
