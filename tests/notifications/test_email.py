"""Email goes out through a job deferred in the request's transaction."""

from __future__ import annotations

from studioloop.notifications import service as notifications
from tests.conftest import Owner
from tests.fakes.smtp import FakeSmtpServer, free_port


async def _register(client, email: str = "naledi@example.com") -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": "pilates22",
            "first_name": "Naledi",
            "last_name": "Mthembu",
        },
    )
    assert response.status_code == 201


async def test_sign_up_queues_exactly_one_delivery_job(client, owner_db: Owner) -> None:
    await _register(client)
    email_id = owner_db.value("SELECT id FROM notifications")
    jobs = owner_db.rows("SELECT task_name, args, status FROM procrastinate_jobs")
    assert jobs == [
        ("deliver_notification", {"notification_id": str(email_id), "tenant_id": None}, "todo")
    ]


async def test_a_rolled_back_transaction_sends_nothing(database, owner_db: Owner) -> None:
    async with database.sessionmaker() as session:
        await notifications.notify(
            session,
            "verify_email",
            email="ghost@example.com",
            context={"first_name": "G", "code": "123456", "minutes": 15},
        )
        assert await session.scalar(notifications.select_email_count()) == 1
        await session.rollback()
    assert owner_db.value("SELECT count(*) FROM notifications") == 0
    assert owner_db.value("SELECT count(*) FROM procrastinate_jobs") == 0


async def test_without_smtp_the_message_is_recorded(client, owner_db, run_jobs) -> None:
    await _register(client)
    await run_jobs()
    assert owner_db.value("SELECT status FROM notifications") == "recorded"
    assert owner_db.value("SELECT status FROM procrastinate_jobs") == "succeeded"


async def test_delivery_over_smtp(client, owner_db, run_jobs, smtp_settings) -> None:
    with FakeSmtpServer() as smtp:
        smtp_settings(smtp.port)
        await _register(client)
        await run_jobs()
        assert len(smtp.messages) == 1
        message = smtp.messages[0]
        assert message["To"] == "naledi@example.com"
        code = owner_db.latest_code("naledi@example.com")
        assert code in message["Subject"]
        assert message.is_multipart()  # text and HTML alternatives
        status, provider_id, sent_at = owner_db.rows(
            "SELECT status, provider_message_id, sent_at FROM notifications"
        )[0]
        assert status == "sent" and provider_id == message["Message-ID"] and sent_at

        # Running the job again (a retry after a crash, say) sends nothing twice.
        email_id = owner_db.value("SELECT id FROM notifications")
        from studioloop.notifications.tasks import deliver_email, deliver_notification

        await deliver_notification.defer_async(notification_id=str(email_id))
        # (and through the name jobs queued before notifications had channels still use)
        await deliver_email.defer_async(email_id=str(email_id))
        await run_jobs()
        assert len(smtp.messages) == 1


async def test_smtp_failure_is_recorded_and_retried(
    client, owner_db, run_jobs, smtp_settings
) -> None:
    smtp_settings(free_port())  # nothing listens there
    await _register(client)
    await run_jobs()
    status, attempts, error = owner_db.rows(
        "SELECT status, attempts, last_error FROM notifications"
    )[0]
    assert (status, attempts) == ("queued", 1)
    assert error
    job_status, job_attempts, scheduled = owner_db.rows(
        "SELECT status, attempts, scheduled_at FROM procrastinate_jobs"
    )[0]
    assert job_status == "todo" and job_attempts == 1 and scheduled is not None
