"""Failed deliveries are counted by channel on /metrics."""

from __future__ import annotations

from tests.conftest import Owner
from tests.fakes.messaging import FakeSmsGateway, FakeWhatsApp, whatsapp_webhook
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


async def test_a_failure_reported_by_whatsapp_later_is_counted_once(
    studio: NoticeStudio, whatsapp: FakeWhatsApp, sms: FakeSmsGateway, run_jobs: RunJobs
) -> None:
    client = studio.client
    before = await value(client, FAILURES, channel="whatsapp")
    member = await studio.new_member(credits=5)
    await studio.phone(member)
    occurrence = await studio.occurrence(name="Morning Yoga")
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()
    [sent] = whatsapp.messages  # accepted by the API; undeliverable, as Meta says later
    status = {
        "id": sent["id"],
        "status": "failed",
        "timestamp": "1764300000",
        "recipient_id": PHONE_DIGITS,
        "biz_opaque_callback_data": sent["biz_opaque_callback_data"],
        "errors": [{"code": 131049, "title": "Meta chose not to deliver"}],
    }
    body, headers = whatsapp_webhook(statuses=[status])
    for _ in range(2):  # delivered at least once: the second changes nothing
        answer = await client.post(
            "/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers
        )
        assert answer.status_code == 200, answer.text
    assert await value(client, FAILURES, channel="whatsapp") == before + 1
