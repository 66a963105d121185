"""Membership entitlements (billing's `member_entitlement`, read by the booking decision)
and members' private calendar feeds."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from icalendar import Calendar

from tests.booking.conftest import BookingStudio
from tests.conftest import assert_error


@pytest.fixture
async def unlimited_members(studio: BookingStudio, owner_conninfo: str) -> Any:
    """Give members an unlimited membership: a real plan, and an active subscription to it
    written as the schema owner (the payment that would start it is tested in billing)."""
    plan = await studio.client.post(
        f"{studio.base}/membership-plans",
        headers=studio.owner["headers"],
        json={"name": "Unlimited", "price": 90000, "unlimited": True},
    )
    assert plan.status_code == 201, plan.text

    async def add(person: dict[str, Any]) -> None:
        async with await psycopg.AsyncConnection.connect(owner_conninfo) as conn:
            await conn.execute(
                "INSERT INTO subscriptions (id, tenant_id, user_id, plan_id, status, "
                "current_period_start, current_period_end) "
                "VALUES (%s, %s, %s, %s, 'active', now(), now() + interval '30 days')",
                (uuid.uuid4(), studio.tenant["id"], person["user"]["id"], plan.json()["id"]),
            )

    return add


async def test_members_only_classes_and_unlimited_memberships(
    studio: BookingStudio, client, unlimited_members: Any
) -> None:
    members_only = await studio.occurrence(requires_membership=True, credits_required=2)
    casual = await studio.new_member(credits=5)
    error = assert_error(await studio.book(casual, members_only["id"]), 403, "MEMBERSHIP_REQUIRED")
    assert error["message"]

    holder = await studio.new_member()  # no credits at all
    await unlimited_members(holder)
    booked = await studio.book(holder, members_only["id"])
    assert booked.status_code == 201, booked.text
    assert booked.json()["credits_used"] == 0
    paid = await studio.occurrence(hours_ahead=50, name="Reformer", price=28000)
    assert (await studio.book(holder, paid["id"])).status_code == 201
    assert await studio.balance(holder) == 0


async def test_private_calendar_feed(studio: BookingStudio, client) -> None:
    member = await studio.new_member(credits=3)
    occurrence = await studio.occurrence()
    booking = (await studio.book(member, occurrence["id"])).json()

    feed = (await client.get("/api/v1/users/profile/calendar", headers=member["headers"])).json()
    assert feed["webcal_url"].startswith("webcal://")
    path = feed["url"].split("testserver", 1)[-1].replace("http://127.0.0.1:8000", "")
    response = await client.get(path)  # no sign-in: the URL is the secret
    assert response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"booking-{booking['id']}@studioloop"]
    assert "Morning Vinyasa" in str(events[0]["summary"])

    tampered = path[:-8] + ("0000" if not path.endswith("0000.ics") else "1111") + ".ics"
    assert_error(await client.get(tampered), 404, "NOT_FOUND")
    reset = await client.post("/api/v1/users/profile/calendar/reset", headers=member["headers"])
    assert reset.json()["url"] != feed["url"]
    assert_error(await client.get(path), 404, "NOT_FOUND")  # the old address is retired
