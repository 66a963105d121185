"""Messages reach members on WhatsApp, SMS and Web Push, and fall back when a channel fails."""

from __future__ import annotations

from typing import Any

from tests.conftest import Owner, assert_error
from tests.fakes.messaging import (
    WHATSAPP_VERIFY_TOKEN,
    Browser,
    FakePushService,
    FakeSmsGateway,
    FakeWhatsApp,
    whatsapp_webhook,
)
from tests.notifications.conftest import NoticeStudio, RunJobs

PHONE_DIGITS = "27825550101"


def _deliveries(owner_db: Owner, event: str) -> list[tuple[Any, ...]]:
    return owner_db.rows(
        "SELECT channel, recipient, status, provider_message_id, fallback_from_id, body_text "
        "FROM notifications WHERE event = %s ORDER BY created_at",
        event,
    )


async def _booked(studio: NoticeStudio, **class_fields: Any) -> tuple[dict[str, Any], Any]:
    member = await studio.new_member(credits=5)
    await studio.phone(member)
    occurrence = await studio.occurrence(name="Morning Yoga", **class_fields)
    booked = await studio.book(member, occurrence["id"])
    assert booked.status_code == 201, booked.text
    return member, occurrence


async def test_booking_confirmation_goes_out_as_a_whatsapp_template(
    studio: NoticeStudio, whatsapp: FakeWhatsApp, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await _booked(studio)
    await run_jobs()

    [message] = whatsapp.messages
    assert message["to"] == PHONE_DIGITS
    assert message["template"]["name"] == "booking_confirmed"
    assert message["template"]["language"] == {"code": "en"}
    first_name, class_name, start = FakeWhatsApp.parameters(message)
    assert (first_name, class_name) == ("Member", "Morning Yoga")
    assert "UTC" not in start  # the studio's wall clock, not UTC
    [(channel, recipient, status, provider_id, _, body)] = _deliveries(
        owner_db, "booking_confirmed"
    )
    assert (channel, recipient, status) == ("whatsapp", "+27825550101", "sent")
    assert provider_id == message["id"]
    assert "Morning Yoga" in body


async def test_a_critical_message_falls_back_to_sms_when_whatsapp_refuses(
    studio: NoticeStudio,
    whatsapp: FakeWhatsApp,
    sms: FakeSmsGateway,
    owner_db: Owner,
    run_jobs: RunJobs,
) -> None:
    _, occurrence = await _booked(studio)
    await run_jobs()
    whatsapp.undeliverable.add(PHONE_DIGITS)
    cancelled = await studio.client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Instructor ill"},
    )
    assert cancelled.status_code == 200, cancelled.text
    await run_jobs()

    first, second = _deliveries(owner_db, "class_cancelled")
    assert first[:3] == ("whatsapp", "+27825550101", "failed")
    assert second[:3] == ("sms", "+27825550101", "sent")
    [text] = sms.messages
    assert text["to"] == PHONE_DIGITS
    assert "Morning Yoga" in text["content"] and len(text["content"]) <= 160
    failed_id = owner_db.value(
        "SELECT id FROM notifications WHERE event = 'class_cancelled' AND channel = 'whatsapp'"
    )
    assert second[4] == failed_id
    error = owner_db.value("SELECT last_error FROM notifications WHERE id = %s", failed_id)
    assert "131026" in error


async def test_undelivered_status_webhook_falls_back_once(
    studio: NoticeStudio,
    whatsapp: FakeWhatsApp,
    sms: FakeSmsGateway,
    owner_db: Owner,
    run_jobs: RunJobs,
) -> None:
    _, occurrence = await _booked(studio)
    await studio.client.post(
        f"{studio.base}/schedules/{occurrence['id']}/cancel",
        headers=studio.owner["headers"],
        json={"reason": "Flooded"},
    )
    await run_jobs()
    cancelled = next(m for m in whatsapp.messages if m["template"]["name"] == "class_cancelled")
    status = {
        "id": cancelled["id"],
        "status": "failed",
        "timestamp": "1764300000",
        "recipient_id": PHONE_DIGITS,
        "biz_opaque_callback_data": cancelled["biz_opaque_callback_data"],
        "errors": [{"code": 131049, "title": "Meta chose not to deliver"}],
    }
    body, headers = whatsapp_webhook(statuses=[status])
    for _ in range(2):  # Meta delivers webhooks at least once
        answer = await studio.client.post(
            "/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers
        )
        assert answer.status_code == 200, answer.text
    await run_jobs()

    rows = _deliveries(owner_db, "class_cancelled")
    assert [(r[0], r[2]) for r in rows] == [("whatsapp", "failed"), ("sms", "sent")]
    assert len(sms.messages) == 1


async def test_delivery_statuses_only_move_forward(
    studio: NoticeStudio, whatsapp: FakeWhatsApp, owner_db: Owner, run_jobs: RunJobs
) -> None:
    await _booked(studio)
    await run_jobs()
    [message] = whatsapp.messages

    def status(state: str, at: int) -> dict[str, Any]:
        return {
            "id": message["id"],
            "status": state,
            "timestamp": str(at),
            "recipient_id": PHONE_DIGITS,
            "biz_opaque_callback_data": message["biz_opaque_callback_data"],
        }

    for state, at in (("delivered", 1764300010), ("read", 1764300020), ("sent", 1764300005)):
        body, headers = whatsapp_webhook(statuses=[status(state, at)])
        answer = await studio.client.post(
            "/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers
        )
        assert answer.status_code == 200
    state, delivered_at, read_at = owner_db.rows(
        "SELECT status, delivered_at, read_at FROM notifications WHERE event = 'booking_confirmed'"
    )[0]
    assert state == "read"
    assert delivered_at.timestamp() == 1764300010 and read_at.timestamp() == 1764300020


async def test_whatsapp_webhook_refuses_a_bad_signature_and_answers_the_challenge(
    studio: NoticeStudio, whatsapp: FakeWhatsApp
) -> None:
    body, headers = whatsapp_webhook(statuses=[])
    headers["x-hub-signature-256"] = "sha256=" + "0" * 64
    refused = await studio.client.post(
        "/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers
    )
    assert_error(refused, 401, "UNAUTHORIZED")

    challenge = await studio.client.get(
        "/api/v1/messaging/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert challenge.status_code == 200 and challenge.text == "1158201444"
    wrong = await studio.client.get(
        "/api/v1/messaging/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert_error(wrong, 403, "FORBIDDEN")


async def test_replying_stop_moves_the_member_off_whatsapp(
    studio: NoticeStudio, whatsapp: FakeWhatsApp, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member, _ = await _booked(studio)
    await run_jobs()
    reply = {
        "from": PHONE_DIGITS,
        "id": "wamid.reply1",
        "timestamp": "1764300100",
        "type": "text",
        "text": {"body": " stop "},
    }
    body, headers = whatsapp_webhook(messages=[reply])
    answer = await studio.client.post(
        "/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers
    )
    assert answer.json()["opt_outs"] == 1
    assert owner_db.rows("SELECT channel, address FROM channel_opt_outs") == [
        ("whatsapp", "+27825550101")
    ]
    prefs = await studio.client.get(
        f"{studio.base}/notifications/preferences", headers=member["headers"]
    )
    assert "whatsapp" not in prefs.json()["usable_channels"]

    second = await studio.occurrence(name="Evening Flow", hours_ahead=40)
    assert (await studio.book(member, second["id"])).status_code == 201
    await run_jobs()
    assert len(whatsapp.messages) == 1  # nothing more on WhatsApp
    channels = owner_db.rows(
        "SELECT channel FROM notifications WHERE event = 'booking_confirmed' ORDER BY created_at"
    )
    assert channels == [("whatsapp",), ("email",)]

    reply["text"] = {"body": "START"}
    body, headers = whatsapp_webhook(messages=[reply])
    await studio.client.post("/api/v1/messaging/webhooks/whatsapp", content=body, headers=headers)
    assert owner_db.value("SELECT count(*) FROM channel_opt_outs") == 0


async def test_web_push_is_encrypted_for_the_browser_and_signed_with_vapid(
    studio: NoticeStudio, push_service: FakePushService, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member(credits=5)
    browser = Browser(push_service)
    subscribed = await studio.client.post(
        "/api/v1/notifications/push/subscriptions",
        headers={**member["headers"], "user-agent": "Chromium test"},
        json=browser.subscription(),
    )
    assert subscribed.status_code == 201, subscribed.text
    occurrence = await studio.occurrence(name="Morning Yoga")
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()

    [received] = push_service.received
    assert received["title"] == "Loop Yoga"
    assert "Morning Yoga" in received["body"]
    assert received["url"].startswith("/my/bookings/")  # the booking itself
    key = await studio.client.get("/api/v1/notifications/push/public-key")
    assert push_service.vapid_keys == [key.json()["public_key"]]
    assert owner_db.value("SELECT status FROM notifications WHERE channel = 'push'") == "sent"

    # The browser drops the subscription: it is forgotten, and the member is told by email.
    push_service.gone.add(browser.endpoint.rsplit("/", 1)[-1])
    second = await studio.occurrence(name="Evening Flow", hours_ahead=40)
    assert (await studio.book(member, second["id"])).status_code == 201
    await run_jobs()
    assert owner_db.value("SELECT count(*) FROM push_subscriptions") == 0
    rows = owner_db.rows(
        "SELECT channel, status FROM notifications WHERE event = 'booking_confirmed' "
        "ORDER BY created_at"
    )
    assert rows == [("push", "sent"), ("push", "failed"), ("email", "recorded")]


async def test_push_subscriptions_are_validated_and_removable(
    studio: NoticeStudio, push_service: FakePushService
) -> None:
    member = await studio.new_member()
    browser = Browser(push_service)
    bad = await studio.client.post(
        "/api/v1/notifications/push/subscriptions",
        headers=member["headers"],
        json={**browser.subscription(), "endpoint": "ftp://push.example.com/x"},
    )
    assert_error(bad, 422, "VALIDATION_ERROR")
    anonymous = await studio.client.post(
        "/api/v1/notifications/push/subscriptions", json=browser.subscription()
    )
    assert_error(anonymous, 401, "UNAUTHORIZED")
    await studio.client.post(
        "/api/v1/notifications/push/subscriptions",
        headers=member["headers"],
        json=browser.subscription(),
    )
    removed = await studio.client.request(
        "DELETE",
        "/api/v1/notifications/push/subscriptions",
        headers=member["headers"],
        json={"endpoint": browser.endpoint},
    )
    assert removed.status_code == 204
    again = await studio.client.request(
        "DELETE",
        "/api/v1/notifications/push/subscriptions",
        headers=member["headers"],
        json={"endpoint": browser.endpoint},
    )
    assert_error(again, 404, "NOT_FOUND")


async def test_the_confirmation_email_carries_the_check_in_code(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs, smtp_settings
) -> None:
    from io import BytesIO

    from PIL import Image

    from tests.fakes.smtp import FakeSmtpServer

    member = await studio.new_member(credits=2)
    with FakeSmtpServer() as smtp:
        smtp_settings(smtp.port)
        occurrence = await studio.occurrence()
        assert (await studio.book(member, occurrence["id"])).status_code == 201
        await run_jobs()
        [mail] = [m for m in smtp.messages if m["Subject"].startswith("Booked")]
    [image] = [part for part in mail.walk() if part.get_filename() == "checkin-code.png"]
    png = Image.open(BytesIO(image.get_payload(decode=True)))
    assert png.format == "PNG" and png.size[0] >= 200
    [plain] = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
    assert "attached" in plain.get_payload(decode=True).decode()


async def test_checking_in_is_confirmed_to_the_member(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(hours_ahead=0.5)
    booked = await studio.book(member, occurrence["id"])
    assert booked.status_code == 201, booked.text
    checked = await studio.client.post(
        f"/api/v1/bookings/{booked.json()['id']}/checkin",
        headers={**studio.instructor["headers"], "X-Tenant-ID": studio.slug},
    )
    assert checked.status_code == 200, checked.text
    await run_jobs()
    assert owner_db.rows(
        "SELECT event, user_id::text FROM notifications WHERE event = 'checkin_confirmed'"
    ) == [("checkin_confirmed", member["user"]["id"])]
