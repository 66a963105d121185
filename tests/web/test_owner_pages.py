"""The owner's dashboard figures and a member's message history, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from studioloop.analytics import service as analytics
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.payments.conftest import RunJobs, run_jobs
from tests.web.test_pages import _login

__all__ = ["run_jobs"]  # the fixture, for these tests


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


async def test_dashboard_figures(studio: BookingStudio, database, owner_db: Owner) -> None:
    first = await studio.occurrence(hours_ahead=2, capacity=4)
    await studio.occurrence(hours_ahead=26, capacity=6)
    for _ in range(3):
        member = await studio.new_member(credits=2)
        assert (await studio.book(member, first["id"])).status_code == 201
    owner_db.rows(
        "INSERT INTO payments (tenant_id, user_id, purpose, description, amount, currency, "
        "status, succeeded_at, amount_refunded, provider) "
        "SELECT id, %s, 'credit_pack', 'Ten pack', 45000, 'ZAR', 'partially_refunded', now(), "
        "5000, 'sandbox' FROM tenants WHERE slug = 'loop-yoga'",
        studio.member["user"]["id"],
    )
    tenant_id = owner_db.value("SELECT id FROM tenants WHERE slug = 'loop-yoga'")
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        figures = await analytics.dashboard(
            session, tenant_id, "Africa/Johannesburg", datetime.now(UTC)
        )
    assert sum(booked for _, booked, _ in figures.daily) == 3
    assert sum(capacity for _, _, capacity in figures.daily) == 10
    assert figures.revenue[-1][1] == 40000  # this week, net of the refund
    assert len(figures.revenue) == 8
    assert figures.members >= 4 and figures.new_members >= 4


async def test_owner_sees_the_dashboard_and_members_do_not(
    web: httpx.AsyncClient, studio: BookingStudio
) -> None:
    await studio.occurrence(hours_ahead=3)
    assert (await _login(web, studio.owner["email"], "secret123")).status_code == 303
    page = await web.get("/s/loop-yoga/admin")
    assert page.status_code == 200
    assert page.text.count('role="img"') >= 2  # the two charts
    assert re.search(r"\d+%</span> full this week", page.text)

    member_web = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with member_web:
        await _login(member_web, studio.member["email"], "secret123")
        refused = await member_web.get("/s/loop-yoga/admin")
        assert refused.status_code == 403


async def test_staff_read_a_members_message_history(
    web: httpx.AsyncClient, studio: BookingStudio, run_jobs: RunJobs
) -> None:
    member = await studio.new_member(credits=1)
    occurrence = await studio.occurrence(name="Morning Yoga")
    booked = await studio.book(member, occurrence["id"])
    assert booked.status_code == 201
    await run_jobs()  # the confirmation goes out
    await studio.client.delete(f"/api/v1/bookings/{booked.json()['id']}", headers=member["headers"])
    await run_jobs()
    await _login(web, studio.instructor["email"], "secret123")
    page = await web.get(f"/s/loop-yoga/admin/members/{member['user']['id']}/messages")
    assert page.status_code == 200
    assert "Messages to Member" in page.text
    assert "Booked: Morning Yoga" in page.text
    assert "Cancelled: your booking for Morning Yoga" in page.text
    unknown = await web.get(
        "/s/loop-yoga/admin/members/00000000-0000-0000-0000-000000000000/messages"
    )
    assert unknown.status_code == 404
