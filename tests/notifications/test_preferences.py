"""Members decide what reaches them and when; one click in an email stops that kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import Owner, assert_error
from tests.fakes.smtp import FakeSmtpServer
from tests.notifications.conftest import NoticeStudio, RunJobs


async def test_defaults_come_from_the_studio(studio: NoticeStudio) -> None:
    member = await studio.new_member()
    response = await studio.client.get(
        f"{studio.base}/notifications/preferences", headers=member["headers"]
    )
    assert response.status_code == 200
    prefs = response.json()
    assert prefs["channels"] == ["push", "whatsapp", "email", "sms"]
    assert prefs["usable_channels"] == ["email"]  # no phone, no device, no WhatsApp set up
    assert (prefs["booking_updates"], prefs["reminders"], prefs["marketing"]) == (
        True,
        True,
        False,
    )
    assert prefs["reminder_hours"] == [2, 24] or prefs["reminder_hours"] == [24, 2]
    assert prefs["timezone"] == "Africa/Johannesburg"
    assert prefs["customised"] is False


async def test_changing_preferences_and_refusing_bad_ones(studio: NoticeStudio) -> None:
    member = await studio.new_member()
    changed = await studio.preferences(
        member,
        channels=["email", "whatsapp"],
        reminder_hours=[3, 48],
        marketing=True,
        quiet_hours_start="21:30",
        quiet_hours_end="06:30",
    )
    assert changed["channels"] == ["email", "whatsapp"]
    assert changed["reminder_hours"] == [48, 3]
    assert changed["marketing"] is True and changed["customised"] is True
    assert (changed["quiet_hours_start"], changed["quiet_hours_end"]) == ("21:30:00", "06:30:00")
    # Only what is sent changes; null goes back to the studio's timing.
    again = await studio.preferences(member, reminder_hours=None)
    assert again["marketing"] is True and len(again["reminder_hours"]) == 2

    url = f"{studio.base}/notifications/preferences"
    for bad in (
        {"channels": ["email", "email"]},
        {"channels": ["pigeon"]},
        {"reminder_hours": [0]},
        {"quiet_hours_start": "22:00"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": "22:00"},
        {"marketing": None},
        {"unknown": True},
    ):
        refused = await studio.client.put(url, headers=member["headers"], json=bad)
        assert_error(refused, 422, "VALIDATION_ERROR")
    assert_error(await studio.client.get(url), 401, "UNAUTHORIZED")
    unknown_studio = await studio.client.get(
        "/api/v1/tenants/nowhere/notifications/preferences", headers=member["headers"]
    )
    assert_error(unknown_studio, 404, "TENANT_NOT_FOUND")


async def test_switching_off_booking_updates_keeps_critical_messages(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member(credits=5)
    await studio.preferences(member, booking_updates=False)
    occurrence = await studio.occurrence()
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE event = 'booking_confirmed'") == 0
    )
    await studio.client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Power cut"},
    )
    # A cancelled class is critical: the member hears of it whatever the switch says.
    assert owner_db.value("SELECT count(*) FROM notifications WHERE event = 'class_cancelled'") == 1


async def test_quiet_hours_hold_a_message_until_they_end(
    studio: NoticeStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=5)
    local = datetime.now(UTC).astimezone(ZoneInfo("Africa/Johannesburg"))
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    await studio.preferences(member, quiet_hours_start=start, quiet_hours_end=end)
    occurrence = await studio.occurrence(hours_ahead=30)
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    from studioloop.booking.notices import announce
    from studioloop.db.engine import get_database
    from studioloop.db.tenancy import enter_tenant_for_transaction

    booking_id = owner_db.value("SELECT id FROM bookings WHERE user_id = %s", member["user"]["id"])
    async with get_database().sessionmaker() as session:
        await enter_tenant_for_transaction(session, owner_db.value("SELECT id FROM tenants"))
        assert await announce(session, booking_id, "booking_confirmed")
        await session.commit()
    notification_id, send_after = owner_db.rows(
        "SELECT id::text, send_after FROM notifications WHERE event = 'booking_confirmed'"
    )[0]
    expected = local.replace(hour=int(end[:2]), minute=int(end[3:]), second=0, microsecond=0)
    if expected <= local:
        expected += timedelta(days=1)
    assert send_after == expected
    scheduled = owner_db.value(
        "SELECT scheduled_at FROM procrastinate_jobs WHERE args->>'notification_id' = %s",
        notification_id,
    )
    assert scheduled == expected


async def test_one_click_unsubscribe_from_an_email(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs, smtp_settings
) -> None:
    member = await studio.new_member(credits=5)
    with FakeSmtpServer() as smtp:
        smtp_settings(smtp.port)
        occurrence = await studio.occurrence()
        assert (await studio.book(member, occurrence["id"])).status_code == 201
        await run_jobs()
        [mail] = [m for m in smtp.messages if m["Subject"].startswith("Booked")]
    link = mail["List-Unsubscribe"].strip("<>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = link.split("://", 1)[1].split("/", 1)[1]

    # Opening the link (as mail scanners do) changes nothing.
    page = await studio.client.get(f"/{path}")
    assert page.status_code == 200 and "Stop booking updates" in page.text
    prefs_url = f"{studio.base}/notifications/preferences"
    prefs = await studio.client.get(prefs_url, headers=member["headers"])
    assert prefs.json()["booking_updates"] is True

    # The mail client's one-click POST (RFC 8058) switches them off.
    done = await studio.client.post(
        f"/{path}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "unsubscribed" in done.text
    prefs = await studio.client.get(prefs_url, headers=member["headers"])
    assert prefs.json()["booking_updates"] is False
    assert prefs.json()["reminders"] is True  # only that kind

    forged = await studio.client.post(f"/{path[:-4]}abcd")
    assert forged.status_code == 404


async def test_security_and_account_messages_carry_no_unsubscribe_link(
    studio: NoticeStudio, owner_db: Owner
) -> None:
    payload = owner_db.value(
        "SELECT payload FROM notifications WHERE event = 'verify_email' LIMIT 1"
    )
    assert "unsubscribe_url" not in payload


async def test_announcements_reach_only_members_who_opted_in(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    keen = await studio.new_member()
    await studio.preferences(keen, marketing=True)
    await studio.new_member()  # never asked for news
    sent = await studio.client.post(
        f"{studio.base}/notifications/announcements",
        headers=studio.owner["headers"],
        json={"title": "December timetable", "message": "Classes run until the 20th."},
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["recipients"] == 1
    await run_jobs()
    assert owner_db.rows(
        "SELECT user_id::text, subject FROM notifications WHERE event = 'studio_announcement'"
    ) == [(keen["user"]["id"], "December timetable")]
    refused = await studio.client.post(
        f"{studio.base}/notifications/announcements",
        headers=studio.instructor["headers"],
        json={"title": "Hi", "message": "x"},
    )
    assert_error(refused, 403, "INSUFFICIENT_ROLE")
