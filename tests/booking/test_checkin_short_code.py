"""The short code under the QR, typed at the door; and the check-in window, one rule that
the server applies and sends to door devices with their roster."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from studioloop.booking import checkin, qr
from studioloop.config import Settings
from tests.booking.conftest import BookingStudio
from tests.conftest import Owner, assert_error


async def _booked_soon(studio: BookingStudio, minutes_ahead: int = 30) -> tuple[dict, dict]:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(hours_ahead=minutes_ahead / 60)
    response = await studio.book(member, occurrence["id"])
    assert response.status_code == 201, response.text
    return member, response.json()


async def _roster(studio: BookingStudio, client, booking: dict) -> dict:
    """The roster of the booking's day, a day on the studio's clock."""
    start = datetime.fromisoformat(booking["start_time"])
    day = start.astimezone(ZoneInfo(studio.tenant["timezone"])).date().isoformat()
    roster = await client.get(
        f"{studio.base}/checkin/roster", headers=studio.instructor["headers"], params={"date": day}
    )
    assert roster.status_code == 200, roster.text
    return roster.json()


def _entry(roster: dict, booking: dict) -> tuple[dict, dict]:
    for occurrence in roster["occurrences"]:
        for entry in occurrence["bookings"]:
            if entry["booking_id"] == booking["id"]:
                return occurrence, entry
    raise AssertionError(f"{booking['id']} is not on the roster")


def test_short_codes_are_short_unambiguous_and_per_studio(settings: Settings) -> None:
    studio_a, studio_b = uuid.uuid5(uuid.NAMESPACE_URL, "a"), uuid.uuid5(uuid.NAMESPACE_URL, "b")
    bookings = [uuid.uuid5(uuid.NAMESPACE_URL, f"booking-{n}") for n in range(3000)]
    codes = [qr.short_code(settings, studio_a, booking) for booking in bookings]
    assert all(len(code) == 6 and set(code) <= set(qr.SHORT_ALPHABET) for code in codes)
    assert not set("01OIL") & set(qr.SHORT_ALPHABET)
    assert len(set(codes)) == len(codes)  # a busy studio's month, no two alike
    # The same booking id gives another code under another studio's key; and a code is
    # stable (derived, not stored): the page, the roster and the door agree.
    assert qr.short_code(settings, studio_b, bookings[0]) != codes[0]
    assert qr.short_code(settings, studio_a, bookings[0]) == codes[0]

    assert qr.normalise_short_code(" k7q-w3m ") == "K7QW3M"
    assert qr.normalise_short_code("K7Q W3M") == "K7QW3M"
    assert qr.normalise_short_code("K7QW30") is None  # 0 is not in the alphabet
    assert qr.normalise_short_code("K7QW3") is None
    assert qr.normalise_short_code("SL1.abc.def") is None
    assert qr.show_short_code("K7QW3M") == "K7Q W3M"


async def test_the_short_code_checks_the_member_in(
    studio: BookingStudio, client, settings: Settings
) -> None:
    _member, booking = await _booked_soon(studio)
    roster = await _roster(studio, client, booking)
    _, entry = _entry(roster, booking)
    code = entry["short_code"]
    assert code == qr.short_code(settings, uuid.UUID(studio.tenant["id"]), uuid.UUID(booking["id"]))

    typed = f"{code[:3].lower()} {code[3:]}"  # as read out, spaces and case forgiven
    first = await client.post(
        f"{studio.base}/checkin", headers=studio.instructor["headers"], json={"code": typed}
    )
    assert first.status_code == 200, first.text
    assert (first.json()["result"], first.json()["booking_id"]) == ("checked_in", booking["id"])
    again = await client.post(
        f"{studio.base}/checkin", headers=studio.instructor["headers"], json={"code": code}
    )
    assert again.json()["result"] == "already_checked_in"
    assert again.json()["check_in_time"] == first.json()["check_in_time"]


async def test_bad_short_codes_are_refused_and_change_nothing(
    studio: BookingStudio, api, client, owner_db: Owner, settings: Settings, monkeypatch
) -> None:
    member, booking = await _booked_soon(studio)
    code = qr.short_code(settings, uuid.UUID(studio.tenant["id"]), uuid.UUID(booking["id"]))
    other = await BookingStudio(api, "jozi-hiit").setup()

    def post(base: str, headers: dict, text: str):
        return client.post(f"{base}/checkin", headers=headers, json={"code": text})

    # Another studio's door does not know this studio's codes.
    refused = await post(other.base, other.owner["headers"], code)
    assert "for this studio" in assert_error(refused, 409, "UNKNOWN_CODE")["message"]
    # A code that is nobody's.
    unknown = next(
        c for c in ("ZZZZZZ", "YYYYYY", "XXXXXX") if c != code
    )  # (one of three is not it)
    assert_error(await post(studio.base, studio.owner["headers"], unknown), 409, "UNKNOWN_CODE")
    # A member cannot check anyone in, themselves included.
    assert_error(await post(studio.base, member["headers"], code), 403, "INSUFFICIENT_ROLE")
    # Without a studio, a short code cannot be placed.
    assert_error(
        await client.post("/api/v1/checkin", headers=studio.owner["headers"], json={"code": code}),
        409,
        "STUDIO_NEEDED",
    )
    # Two live bookings with one code (rare: 887 million codes) are not guessed between.
    _second_member, second = await _booked_soon(studio, minutes_ahead=40)
    monkeypatch.setattr(qr, "short_code", lambda *_args: "K7QW3M")
    assert_error(await post(studio.base, studio.owner["headers"], "K7QW3M"), 409, "AMBIGUOUS_CODE")
    monkeypatch.undo()
    assert owner_db.value("SELECT count(*) FROM bookings WHERE check_in_time IS NOT NULL") == 0

    # A cancelled booking's code says so.
    await client.delete(f"/api/v1/bookings/{second['id']}", headers=_second_member["headers"])
    cancelled = qr.short_code(settings, uuid.UUID(studio.tenant["id"]), uuid.UUID(second["id"]))
    assert_error(
        await post(studio.base, studio.owner["headers"], cancelled), 409, "BOOKING_CANCELLED"
    )
    assert owner_db.value("SELECT count(*) FROM bookings WHERE check_in_time IS NOT NULL") == 0


def test_the_window_rule() -> None:
    start = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert checkin.window(start, {}) == (
        start - timedelta(minutes=checkin.DEFAULT_OPENS_MINUTES_BEFORE),
        start + timedelta(minutes=checkin.DEFAULT_CLOSES_MINUTES_AFTER),
    )
    studio = {"checkin_opens_minutes_before": 15, "checkin_closes_minutes_after": 5}
    assert checkin.window(start, studio) == (
        start - timedelta(minutes=15),
        start + timedelta(minutes=5),
    )


@pytest.mark.parametrize("how", ["online", "offline batch"])
async def test_the_window_is_applied_to_short_codes_and_sent_with_the_roster(
    studio: BookingStudio, client, owner_db: Owner, how: str
) -> None:
    _member, booking = await _booked_soon(studio, minutes_ahead=5 * 60)  # too early
    roster = await _roster(studio, client, booking)
    occurrence, entry = _entry(roster, booking)
    # The device is given the rule's instants, computed by the server's one rule.
    start = datetime.fromisoformat(occurrence["start_time"])
    opens_at, closes_at = checkin.window(start, {})
    assert datetime.fromisoformat(occurrence["checkin_opens_at"]) == opens_at
    assert datetime.fromisoformat(occurrence["checkin_closes_at"]) == closes_at

    if how == "online":
        early = await client.post(
            f"{studio.base}/checkin",
            headers=studio.instructor["headers"],
            json={"code": entry["short_code"]},
        )
        assert "opens_at" in assert_error(early, 409, "CHECKIN_NOT_OPEN")["details"]
    else:
        batch = await client.post(
            f"{studio.base}/checkin/batch",
            headers=studio.instructor["headers"],
            json={
                "device_id": "door-1",
                "scans": [
                    {
                        "nonce": "door-1-0001",
                        "code": entry["short_code"],
                        "scanned_at": datetime.now(UTC).isoformat(),
                    }
                ],
            },
        )
        assert batch.json()["results"][0]["code"] == "CHECKIN_NOT_OPEN"
    assert owner_db.value("SELECT check_in_time FROM bookings") is None
