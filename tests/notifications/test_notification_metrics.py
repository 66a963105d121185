"""Failed deliveries are counted by channel on /metrics."""

from __future__ import annotations

from tests.conftest import Owner
from tests.fakes.messaging import FakeSmsGateway, FakeWhatsApp
from tests.metrics import value
from tests.notifications.conftest import NoticeStudio, RunJobs

PHONE_DIGITS = "27825550101"
FAILURES = "studioloop_notification_failures_total"


async def test_failed_whatsapp_and_sms_deliveries_are_counted_by_channel(
    studio: NoticeStudio,
    whatsapp: FakeWhatsApp,
    sms: FakeSmsGateway,
    owner_db: Owner,
    run_jobs: RunJobs,
) -> None:
    client = studio.client
    before = {ch: await value(client, FAILURES, channel=ch) for ch in ("whatsapp", "sms")}
    member = await studio.new_member(credits=5)
    await studio.phone(member)
    occurrence = await studio.occurrence(name="Morning Yoga")
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()  # the confirmation goes out on WhatsApp

    whatsapp.undeliverable.add(PHONE_DIGITS)
    sms.undeliverable.add(PHONE_DIGITS)
    cancelled = await client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Instructor ill"},
    )
    assert cancelled.status_code == 200, cancelled.text
    await run_jobs()

    statuses = owner_db.rows(
        "SELECT channel, status FROM notifications WHERE event = 'class_cancelled' "
        "ORDER BY created_at"
    )
    assert ("whatsapp", "failed") in statuses and ("sms", "failed") in statuses
    after = {ch: await value(client, FAILURES, channel=ch) for ch in ("whatsapp", "sms")}
    assert after == {"whatsapp": before["whatsapp"] + 1, "sms": before["sms"] + 1}
    # Running the jobs again changes nothing: a finished message is not counted twice.
    await run_jobs()
    assert await value(client, FAILURES, channel="sms") == after["sms"]
