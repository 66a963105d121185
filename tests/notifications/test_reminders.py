"""Reminders at the right local time, and the other messages periodic jobs send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from studioloop.booking import reminders
from studioloop.credits import expiry_notices
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.conftest import Api, Owner
from tests.notifications.conftest import NoticeStudio, RunJobs

LONDON = "Europe/London"


def test_a_reminder_in_days_keeps_the_wall_clock_across_a_clock_change() -> None:
    # Britain springs forward at 01:00 UTC on Sunday 28 March 2027. A 09:00 class that
    # Sunday (08:00 UTC) is reminded at 09:00 on Saturday (09:00 UTC): 23 real hours.
    start = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    assert reminders.due_at(start, 24, LONDON) == datetime(2027, 3, 27, 9, 0, tzinfo=UTC)
    # Hours are real hours.
    assert reminders.due_at(start, 2, LONDON) == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)
    # Falling back on 31 October 2027: a 09:00 class (09:00 UTC) is reminded at 09:00
    # British Summer Time the day before (08:00 UTC): 25 real hours.
    autumn = datetime(2027, 10, 31, 9, 0, tzinfo=UTC)
    assert reminders.due_at(autumn, 24, LONDON) == datetime(2027, 10, 30, 8, 0, tzinfo=UTC)
    # Johannesburg has no clock changes: a day is 24 hours.
    assert reminders.due_at(start, 24, "Africa/Johannesburg") == start - timedelta(hours=24)


def test_only_the_closest_due_reminder_and_never_one_from_before_booking() -> None:
    start = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    booked_early = start - timedelta(days=3)
    tz = "Africa/Johannesburg"
    assert (
        reminders.closest_due(start, booked_early, (24, 2), tz, start - timedelta(hours=25)) is None
    )
    assert (
        reminders.closest_due(start, booked_early, (24, 2), tz, start - timedelta(hours=24)) == 24
    )
    assert reminders.closest_due(start, booked_early, (24, 2), tz, start - timedelta(hours=1)) == 2
    booked_late = start - timedelta(hours=20)
    assert (
        reminders.closest_due(start, booked_late, (24, 2), tz, start - timedelta(hours=19)) is None
    )
    assert reminders.closest_due(start, booked_late, (24, 2), tz, start - timedelta(hours=2)) == 2


async def test_reminders_are_sent_once_at_the_local_time_across_dst(
    api: Api, database, owner_db: Owner
) -> None:
    studio = await NoticeStudio(api, "london-flow").setup(timezone=LONDON)
    member = await studio.new_member(credits=3)
    template = await studio.make_class(
        name="Sunday Flow",
        max_capacity=10,
        room_id=None,
        location_id=None,
        booking_window_hours=24 * 365,
    )
    start = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 in London, just after the change
    occurrence = await studio.schedule_at(template["id"], start)
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    tenant_id = uuid.UUID(studio.tenant["id"])

    async def run_at(now: datetime) -> int:
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            sent = await reminders.send_due(session, tenant_id, {}, LONDON, now=now)
            await session.commit()
        return sent

    def reminders_sent() -> list[tuple[str, ...]]:
        return owner_db.rows(
            "SELECT dedup_key FROM notifications WHERE event = 'class_reminder' ORDER BY created_at"
        )

    assert await run_at(datetime(2027, 3, 27, 8, 59, tzinfo=UTC)) == 0
    assert await run_at(datetime(2027, 3, 27, 9, 0, tzinfo=UTC)) == 1  # 09:00 local, Saturday
    assert await run_at(datetime(2027, 3, 27, 9, 5, tzinfo=UTC)) == 0  # once
    assert await run_at(datetime(2027, 3, 28, 6, 0, tzinfo=UTC)) == 1  # two real hours before
    assert await run_at(datetime(2027, 3, 28, 7, 0, tzinfo=UTC)) == 0
    booking_id = owner_db.value("SELECT id FROM bookings")
    assert reminders_sent() == [
        (f"class_reminder:{booking_id}:24",),
        (f"class_reminder:{booking_id}:2",),
    ]
    body = owner_db.value("SELECT body_text FROM notifications WHERE event = 'class_reminder'")
    assert "Sun 28 Mar 09:00" in body  # the studio's wall clock


async def test_members_choose_their_reminders(
    studio: NoticeStudio, database, owner_db: Owner
) -> None:
    quiet = await studio.new_member(credits=2)
    early = await studio.new_member(credits=2)
    await studio.preferences(quiet, reminders=False)
    await studio.preferences(early, reminder_hours=[48])
    occurrence = await studio.occurrence(hours_ahead=72)
    for person in (quiet, early):
        assert (await studio.book(person, occurrence["id"])).status_code == 201
    tenant_id = uuid.UUID(studio.tenant["id"])
    start = datetime.fromisoformat(occurrence["start_time"])
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, tenant_id)
        sent = await reminders.send_due(
            session, tenant_id, {}, "Africa/Johannesburg", now=start - timedelta(hours=47)
        )
        await session.commit()
    assert sent == 1
    assert owner_db.rows(
        "SELECT user_id::text FROM notifications WHERE event = 'class_reminder'"
    ) == [(early["user"]["id"],)]


async def test_booked_members_hear_about_a_new_instructor(
    studio: NoticeStudio, owner_db: Owner
) -> None:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence()
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    cover = await studio.add_staff("instructor", "Lerato")
    changed = await studio.client.patch(
        f"{studio.base}/schedules/{occurrence['id']}",
        headers=studio.owner["headers"],
        json={"substitute_instructor_id": cover["user"]["id"]},
    )
    assert changed.status_code == 200, changed.text
    rows = owner_db.rows(
        "SELECT user_id::text, body_text FROM notifications WHERE event = 'instructor_changed'"
    )
    assert len(rows) == 1 and rows[0][0] == member["user"]["id"]
    assert "Lerato" in rows[0][1]
    # Changing something else tells nobody.
    await studio.client.patch(
        f"{studio.base}/schedules/{occurrence['id']}",
        headers=studio.owner["headers"],
        json={"capacity": 11},
    )
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE event = 'instructor_changed'") == 1
    )


async def test_credits_expiring_within_a_week_are_announced_once(
    studio: NoticeStudio, database, owner_db: Owner
) -> None:
    member = await studio.new_member()
    await studio.give_credits(member, 4, valid_days=5)
    await studio.give_credits(member, 6, valid_days=60)
    tenant_id = uuid.UUID(studio.tenant["id"])
    for _ in range(2):
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            await expiry_notices.warn_expiring(session, tenant_id)
            await session.commit()
    [(body,)] = owner_db.rows(
        "SELECT body_text FROM notifications WHERE event = 'credits_expiring'"
    )
    assert "4 of your credits" in body


async def test_the_expiry_job_warns_as_part_of_its_hourly_run(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member()
    await studio.give_credits(member, 2, valid_days=3)
    from studioloop.credits.tasks import expire_credits

    await expire_credits.defer_async(timestamp=0)
    await run_jobs()
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE event = 'credits_expiring'") == 1
    )
