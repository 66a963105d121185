"""Who sees which messages; a studio's own wording; booking messages sent exactly once."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from studioloop.db import tenancy
from tests.conftest import Api, Owner, assert_error
from tests.notifications.conftest import NoticeStudio, RunJobs


async def test_members_see_their_messages_and_staff_their_studios(
    studio: NoticeStudio, api: Api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member(credits=5)
    occurrence = await studio.occurrence(name="Morning Yoga")
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    other = await NoticeStudio(api, "other-place").setup()
    await api.join(member, "other-place")
    await other.give_credits(member, 3)
    elsewhere = await other.occurrence(name="Spin", hours_ahead=50)
    assert (await other.book(member, elsewhere["id"])).status_code == 201
    await run_jobs()

    mine = await studio.client.get("/api/v1/notifications", headers=member["headers"])
    assert mine.status_code == 200
    events = {(m["event"], m["tenant_id"]) for m in mine.json()["items"]}
    assert ("booking_confirmed", studio.tenant["id"]) in events
    assert ("booking_confirmed", other.tenant["id"]) in events
    assert ("verify_email", None) in events  # platform messages are theirs too

    here = await studio.client.get(f"{studio.base}/notifications", headers=member["headers"])
    assert {m["tenant_id"] for m in here.json()["items"]} == {studio.tenant["id"]}

    url = f"{studio.base}/users/{member['user']['id']}/notifications"
    staff_view = await studio.client.get(url, headers=studio.instructor["headers"])
    assert staff_view.status_code == 200
    items = staff_view.json()["items"]
    assert [m["event"] for m in items] == ["booking_confirmed"]
    assert items[0]["status"] == "recorded" and items[0]["channel"] == "email"

    # Staff of another studio see nothing of this one's, members see nobody else's.
    foreign = await studio.client.get(
        f"/api/v1/tenants/other-place/users/{member['user']['id']}/notifications",
        headers=other.owner["headers"],
    )
    assert [m["tenant_id"] for m in foreign.json()["items"]] == [other.tenant["id"]]
    nosy = await studio.new_member()
    assert_error(await studio.client.get(url, headers=nosy["headers"]), 403, "INSUFFICIENT_ROLE")
    assert_error(await studio.client.get(url), 401, "UNAUTHORIZED")


async def test_history_pages_with_a_cursor(studio: NoticeStudio, run_jobs: RunJobs) -> None:
    member = await studio.new_member(credits=10)
    for hours in (30, 40, 50):
        occurrence = await studio.occurrence(hours_ahead=hours)
        assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()
    first = await studio.client.get(
        f"{studio.base}/notifications", params={"limit": 2}, headers=member["headers"]
    )
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await studio.client.get(
        f"{studio.base}/notifications",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=member["headers"],
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    assert not {m["id"] for m in rest.json()["items"]} & {m["id"] for m in page["items"]}
    bad = await studio.client.get(
        f"{studio.base}/notifications", params={"cursor": "nope"}, headers=member["headers"]
    )
    assert_error(bad, 422, "VALIDATION_ERROR")


async def test_row_level_security_keeps_platform_and_other_studios_messages_apart(
    studio: NoticeStudio, database, owner_db: Owner
) -> None:
    assert owner_db.value("SELECT count(*) FROM notifications WHERE tenant_id IS NULL") > 0
    other_tenant = uuid.uuid4()
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        visible = await session.scalar(text("SELECT count(*) FROM notifications"))
        assert visible == 0  # sign-up codes are nobody's studio business
        async with tenancy.scope(session, other_tenant):
            assert await session.scalar(text("SELECT count(*) FROM notifications")) == 0


async def test_a_studio_writes_its_own_words(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    url = f"{studio.base}/notifications/templates/booking_confirmed/email"
    saved = await studio.client.put(
        url,
        headers=studio.owner["headers"],
        json={
            "subject": "See you at {{ class_name }}, {{ first_name }}!",
            "body_text": "Namaste {{ first_name }}: {{ class_name }} on {{ start }}.",
        },
    )
    assert saved.status_code == 200, saved.text
    member = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(name="Morning Yoga")
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    await run_jobs()
    subject, body = owner_db.rows(
        "SELECT subject, body_text FROM notifications WHERE event = 'booking_confirmed'"
    )[0]
    assert subject == "See you at Morning Yoga, Member!"
    assert body.startswith("Namaste Member: Morning Yoga on ")

    for bad in (
        {"body_text": "{{ first_name "},
        {"body_text": "See you at {{ clas_name }}"},  # misspelt
        {"body_text": "Your code: {{ code }}"},  # another message's variable
        {"body_text": "{{ ''.__class__.__mro__ }}"},  # the sandbox refuses internals
    ):
        refused = await studio.client.put(url, headers=studio.owner["headers"], json=bad)
        assert_error(refused, 422, "TEMPLATE_INVALID")
    unknown = await studio.client.put(
        f"{studio.base}/notifications/templates/no_such_event/email",
        headers=studio.owner["headers"],
        json={"body_text": "x"},
    )
    assert_error(unknown, 404, "UNKNOWN_EVENT")
    member_try = await studio.client.put(url, headers=member["headers"], json={"body_text": "x"})
    assert_error(member_try, 403, "INSUFFICIENT_ROLE")
    listed = await studio.client.get(
        f"{studio.base}/notifications/templates", headers=studio.owner["headers"]
    )
    assert [(t["event"], t["kind"]) for t in listed.json()] == [("booking_confirmed", "email")]
    deleted = await studio.client.delete(url, headers=studio.owner["headers"])
    assert deleted.status_code == 204
    assert_error(await studio.client.delete(url, headers=studio.owner["headers"]), 404, "NOT_FOUND")


async def test_a_refused_booking_tells_nobody_and_a_retried_job_sends_once(
    studio: NoticeStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    first = await studio.new_member(credits=2)
    late = await studio.new_member(credits=2)
    occurrence = await studio.occurrence(capacity=1)
    assert (await studio.book(first, occurrence["id"])).status_code == 201
    full = await studio.book(late, occurrence["id"])
    assert_error(full, 409, "CLASS_FULL")  # its transaction rolled back
    announced = owner_db.rows(
        "SELECT args->>'booking_id' FROM procrastinate_jobs WHERE task_name = 'announce_booking'"
    )
    assert len(announced) == 1

    # The job runs twice (a retry after a crash, or a duplicate): one message.
    from studioloop.booking.tasks import announce_booking

    booking_id = announced[0][0]
    await run_jobs()
    await announce_booking.defer_async(
        booking_id=booking_id, event="booking_confirmed", tenant_id=studio.tenant["id"]
    )
    await run_jobs()
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE event = 'booking_confirmed'") == 1
    )
    assert (
        owner_db.value("SELECT count(*) FROM notifications WHERE user_id = %s", late["user"]["id"])
        == 1
    )  # only the sign-up code


async def test_the_events_catalogue_lists_whatsapp_parameters(studio: NoticeStudio) -> None:
    response = await studio.client.get("/api/v1/notifications/events")
    events = {e["name"]: e for e in response.json()}
    assert events["class_reminder"]["whatsapp_params"] == [
        "first_name",
        "class_name",
        "start",
        "studio_name",
    ]
    assert events["class_cancelled"]["critical"] is True
    assert {"first_name", "class_name", "start", "studio_name"} <= set(
        events["class_reminder"]["variables"]
    )
