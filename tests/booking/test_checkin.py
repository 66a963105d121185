"""Check-in at the door: online by code or id, offline in batches; no-shows afterwards."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from studioloop.booking import checkin
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.booking.conftest import BookingStudio
from tests.conftest import Owner, assert_error


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _local_day(start_time: str) -> str:
    return (
        datetime.fromisoformat(start_time)
        .astimezone(ZoneInfo("Africa/Johannesburg"))
        .date()
        .isoformat()
    )


async def _booked_soon(studio: BookingStudio, minutes_ahead: int = 30) -> tuple[dict, dict]:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(hours_ahead=minutes_ahead / 60)
    response = await studio.book(member, occurrence["id"])
    assert response.status_code == 201, response.text
    return member, response.json()


async def test_scan_a_code_at_the_door(studio: BookingStudio, client) -> None:
    _member, booking = await _booked_soon(studio)
    first = await client.post(
        f"{studio.base}/checkin",
        headers=studio.instructor["headers"],
        json={"code": booking["qr_code"]},
    )
    assert first.status_code == 200, first.text
    assert first.json()["result"] == "checked_in"
    again = await client.post(
        "/api/v1/checkin", headers=studio.instructor["headers"], json={"code": booking["qr_code"]}
    )  # studio taken from the code
    assert again.status_code == 200
    assert again.json()["result"] == "already_checked_in"
    assert again.json()["check_in_time"] == first.json()["check_in_time"]

    attendance = await client.get(
        f"{studio.base}/schedules/{booking['class_schedule_id']}/attendance",
        headers=studio.instructor["headers"],
    )
    assert attendance.json()["checked_in"] == 1
    assert attendance.json()["booked"] == 1


async def test_members_and_other_studios_cannot_check_in(
    studio: BookingStudio, api, client
) -> None:
    member, booking = await _booked_soon(studio)
    assert_error(
        await client.post(
            f"{studio.base}/checkin", headers=member["headers"], json={"code": booking["qr_code"]}
        ),
        403,
        "INSUFFICIENT_ROLE",
    )
    other = await BookingStudio(api, "jozi-hiit").setup()
    wrong = await client.post(
        f"{other.base}/checkin", headers=other.owner["headers"], json={"code": booking["qr_code"]}
    )
    assert_error(wrong, 409, "WRONG_STUDIO")
    forged = booking["qr_code"][:-4] + "AAAA"
    assert_error(
        await client.post(
            f"{studio.base}/checkin", headers=studio.owner["headers"], json={"code": forged}
        ),
        409,
        "INVALID_CODE",
    )


async def test_check_in_window_and_booking_state(studio: BookingStudio, client, owner_db) -> None:
    member = await studio.new_member(credits=3)
    later = await studio.occurrence(hours_ahead=5)
    booking = (await studio.book(member, later["id"])).json()
    early = await client.post(
        f"{studio.base}/bookings/{booking['id']}/checkin", headers=studio.owner["headers"]
    )
    assert "opens_at" in assert_error(early, 409, "CHECKIN_NOT_OPEN")["details"]

    owner_db.rows(
        "UPDATE class_schedules SET start_time = now() - interval '45 minutes', "
        "end_time = now() + interval '15 minutes' WHERE id = %s",
        later["id"],
    )
    closed = await client.post(
        f"{studio.base}/bookings/{booking['id']}/checkin", headers=studio.owner["headers"]
    )
    assert_error(closed, 409, "CHECKIN_CLOSED")

    soon = await studio.occurrence(hours_ahead=0.5, name="Spin")
    cancelled = (await studio.book(member, soon["id"])).json()
    await client.delete(f"/api/v1/bookings/{cancelled['id']}", headers=member["headers"])
    refused = await client.post(
        f"{studio.base}/checkin",
        headers=studio.owner["headers"],
        json={"code": cancelled["qr_code"]},
    )
    assert_error(refused, 409, "BOOKING_CANCELLED")


async def test_offline_device_roster_verifies_codes_without_the_server(
    studio: BookingStudio, client
) -> None:
    _member, booking = await _booked_soon(studio)
    roster = await client.get(
        f"{studio.base}/checkin/roster",
        headers=studio.instructor["headers"],
        # The studio's own day (its clock), not the UTC one: they differ late at night.
        params={"date": _local_day(booking["start_time"])},
    )
    assert roster.status_code == 200, roster.text
    data = roster.json()
    entry = next(
        o for o in data["occurrences"] if o["occurrence_id"] == booking["class_schedule_id"]
    )
    assert [b["booking_id"] for b in entry["bookings"]] == [booking["id"]]

    # What a device does offline: check the signature with the public key alone.
    key = Ed25519PublicKey.from_public_bytes(_unb64(data["public_key"]))
    _, payload, signature = booking["qr_code"].split(".")
    key.verify(_unb64(signature), _unb64(payload))
    assert json.loads(_unb64(payload))["b"] == booking["id"]


async def test_batch_upload_applies_each_scan_once(studio: BookingStudio, client, owner_db) -> None:
    _member, booking = await _booked_soon(studio)
    _other_member, other_booking = await _booked_soon(studio, minutes_ahead=40)
    now = datetime.now(UTC).isoformat()
    first = await client.post(
        f"{studio.base}/checkin/batch",
        headers=studio.instructor["headers"],
        json={
            "device_id": "door-1",
            "scans": [
                {"nonce": "door-1-0001", "code": booking["qr_code"], "scanned_at": now},
                {"nonce": "door-1-0002", "code": "garbage-code", "scanned_at": now},
            ],
        },
    )
    assert first.status_code == 200, first.text
    results = {r["nonce"]: r for r in first.json()["results"]}
    assert results["door-1-0001"]["result"] == "checked_in"
    assert (results["door-1-0002"]["result"], results["door-1-0002"]["code"]) == (
        "rejected",
        "INVALID_CODE",
    )

    # The same upload again (a retry): nothing applied twice.
    replay = await client.post(
        f"{studio.base}/checkin/batch",
        headers=studio.instructor["headers"],
        json={
            "device_id": "door-1",
            "scans": [{"nonce": "door-1-0001", "code": booking["qr_code"], "scanned_at": now}],
        },
    )
    assert replay.json()["results"][0]["result"] == "duplicate"

    # A second device scanned the same member: reported, first time kept.
    second_device = await client.post(
        f"{studio.base}/checkin/batch",
        headers=studio.instructor["headers"],
        json={
            "device_id": "door-2",
            "scans": [
                {"nonce": "door-2-0001", "code": booking["qr_code"], "scanned_at": now},
                {"nonce": "door-2-0002", "code": other_booking["qr_code"], "scanned_at": now},
            ],
        },
    )
    outcome = {r["nonce"]: r for r in second_device.json()["results"]}
    assert outcome["door-2-0001"]["result"] == "already_checked_in"
    assert outcome["door-2-0001"]["conflict"] == "scanned_on_another_device"
    assert outcome["door-2-0002"]["result"] == "checked_in"
    assert owner_db.value("SELECT count(*) FROM bookings WHERE check_in_time IS NOT NULL") == 2

    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    skewed = await client.post(
        f"{studio.base}/checkin/batch",
        headers=studio.instructor["headers"],
        json={
            "device_id": "door-3",
            "scans": [{"nonce": "door-3-0001", "code": booking["qr_code"], "scanned_at": future}],
        },
    )
    assert skewed.json()["results"][0]["code"] == "CLOCK_AHEAD"
    dupes = await client.post(
        f"{studio.base}/checkin/batch",
        headers=studio.instructor["headers"],
        json={
            "device_id": "door-4",
            "scans": [
                {"nonce": "same-nonce-1", "code": "x", "scanned_at": now},
                {"nonce": "same-nonce-1", "code": "y", "scanned_at": now},
            ],
        },
    )
    assert_error(dupes, 422, "VALIDATION_ERROR")


async def test_after_class_no_shows_and_completions(
    studio: BookingStudio, client, database, owner_db: Owner
) -> None:
    _came, booking_came = await _booked_soon(studio)
    stayed_home = await studio.new_member(credits=2)
    booking_missed = (await studio.book(stayed_home, booking_came["class_schedule_id"])).json()
    await client.post(
        f"{studio.base}/checkin",
        headers=studio.owner["headers"],
        json={"code": booking_came["qr_code"]},
    )
    owner_db.rows(
        "UPDATE class_schedules SET start_time = now() - interval '2 hours', "
        "end_time = now() - interval '1 hour'"
    )
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        counts = await checkin.close_finished(session, grace=timedelta(minutes=15))
        await session.commit()
    assert counts == {"completed": 1, "no_show": 1, "occurrences": 1}
    statuses = dict(owner_db.rows("SELECT id::text, status FROM bookings"))
    assert statuses == {booking_came["id"]: "completed", booking_missed["id"]: "no_show"}
    assert owner_db.value("SELECT status FROM class_schedules") == "completed"
    assert await studio.balance(stayed_home) == 1  # the credit stays spent (forfeit policy)


async def test_the_door_roster_reaches_past_midnight_when_asked(
    studio: BookingStudio, database, settings
) -> None:
    """Late in the evening the door also needs the class just after midnight (its check-in
    opens before the day turns): `until` reaches into the next day; without it, the day
    ends at midnight on the studio's clock."""
    zone = ZoneInfo(studio.tenant["timezone"])
    today = datetime.now(zone).date()
    after_midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), zone)
    template = await studio.make_class(room_id=None, location_id=None, instructor_id=None)
    late = await studio.schedule_at(template["id"], after_midnight + timedelta(minutes=30))
    tenant_id = uuid.UUID(studio.tenant["id"])

    async def listed(**until: datetime) -> list[str]:
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            roster = await checkin.offline_roster(
                session, settings, tenant_id, studio.tenant["timezone"], today, **until
            )
        return [o["occurrence_id"] for o in roster["occurrences"]]

    assert late["id"] not in await listed()
    assert late["id"] in await listed(until=after_midnight + timedelta(hours=1))
    assert late["id"] not in await listed(until=after_midnight + timedelta(minutes=10))
