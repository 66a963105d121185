"""Membership entitlements (through the billing hook) and members' private calendar feeds."""

from __future__ import annotations

from typing import Any

import pytest
from icalendar import Calendar

from studioloop.booking import entitlements
from tests.booking.conftest import BookingStudio
from tests.conftest import assert_error


@pytest.fixture
def unlimited_members() -> Any:
    """Stand in for billing: members in `holders` have an unlimited membership."""
    holders: set[str] = set()

    async def provider(session: Any, tenant_id: Any, user_id: Any) -> entitlements.Entitlement:
        if str(user_id) in holders:
            return entitlements.Entitlement(has_membership=True, unlimited=True)
        return entitlements.NONE

    billing = entitlements.provide_entitlements(provider)
    yield holders
    entitlements.provide_entitlements(billing)


async def test_members_only_classes_and_unlimited_memberships(
    studio: BookingStudio, client, unlimited_members: set[str]
) -> None:
    members_only = await studio.occurrence(requires_membership=True, credits_required=2)
    casual = await studio.new_member(credits=5)
    error = assert_error(await studio.book(casual, members_only["id"]), 403, "MEMBERSHIP_REQUIRED")
    assert error["message"]

    holder = await studio.new_member()  # no credits at all
    unlimited_members.add(holder["user"]["id"])
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
