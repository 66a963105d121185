"""Erasure through the API: what goes, what stays (sums compared before and after), who may
ask, and the refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.chat.conftest import ChatStudio
from tests.conftest import PASSWORD, Api, Owner, assert_error
from tests.payments.conftest import RunJobs, ShopStudio

ERASURE = "/api/v1/users/profile/erasure"


class TrustStudio(ShopStudio, ChatStudio):
    pass


@pytest.fixture
async def two_studios(api: Api) -> tuple[TrustStudio, TrustStudio]:
    return (
        await TrustStudio(api, "loop-yoga").setup(),
        await TrustStudio(api, "city-gym").setup(),
    )


# Everything an erasure must leave as it was: money, the ledger, attendance, the chat.
SUMS = {
    "ledger": "SELECT tenant_id, user_id, sum(amount), count(*) FROM credit_transactions "
    "GROUP BY 1, 2 ORDER BY 1, 2",
    "balances": "SELECT tenant_id, user_id, balance FROM credit_accounts ORDER BY 1, 2",
    "payments": "SELECT tenant_id, user_id, sum(amount), sum(amount_refunded), count(*) "
    "FROM payments GROUP BY 1, 2 ORDER BY 1, 2",
    "receipts": "SELECT tenant_id, number, amount, vat_amount FROM receipts ORDER BY 1, 2",
    "bookings": "SELECT tenant_id, user_id, status, count(*), count(check_in_time) "
    "FROM bookings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "seats": "SELECT id, booked_count, waitlist_count FROM class_schedules ORDER BY id",
    "chat": "SELECT room_id, count(*), max(seq) FROM chat_messages GROUP BY 1 ORDER BY 1",
    "rooms": "SELECT id, last_seq FROM chat_rooms ORDER BY id",
}


def snapshot(owner_db: Owner) -> dict[str, list[tuple[Any, ...]]]:
    return {name: owner_db.rows(sql) for name, sql in SUMS.items()}


async def _member_with_history(
    studios: tuple[TrustStudio, TrustStudio], owner_db: Owner, run_jobs: RunJobs, name: str
) -> dict[str, Any]:
    """A member of both studios with a paid pack, a past attended class, credits, a chat
    conversation, a staff note and a browser subscribed to push messages."""
    person = await studios[0].api.signup(first_name=name)
    for studio in studios:
        await studio.api.join(person, studio.slug)
        await studio.give_credits(person, 5)
        package = await studio.package(name=f"Pack {name}")
        started = await studio.purchase(person, package["id"])
        assert started.status_code == 201, started.text
        await studio.checkout(started.json()["checkout_url"], "pay")
        await run_jobs()
        occurrence = await studio.occurrence(hours_ahead=3, name=f"Flow {name}")
        booked = await studio.book(person, occurrence["id"])
        assert booked.status_code == 201, booked.text
        # The class has happened, and they came.
        owner_db.rows(
            "UPDATE class_schedules SET start_time = now() - interval '2 hours', "
            "end_time = now() - interval '1 hour' WHERE id = %s",
            occurrence["id"],
        )
        owner_db.rows(
            "UPDATE bookings SET check_in_time = now() - interval '2 hours' WHERE id = %s",
            booked.json()["id"],
        )
        room = await studio.open(person, subject=f"{name}'s question")
        assert room.status_code == 201, room.text
        said = await studio.say(person, room.json()["id"], f"Hi, this is {name}, call 0821234567")
        assert said.status_code == 201, said.text
        owner_db.rows(
            "INSERT INTO member_notes (tenant_id, user_id, body) VALUES (%s, %s, %s)",
            studio.tenant["id"],
            person["user"]["id"],
            f"{name} has a sore knee",
        )
    subscribed = await studios[0].client.post(
        "/api/v1/notifications/push/subscriptions",
        headers=person["headers"],
        json={
            "endpoint": f"https://push.example.com/{name}",
            "keys": {"p256dh": "B" * 40, "auth": "a" * 16},
        },
    )
    assert subscribed.status_code == 201, subscribed.text
    return person


async def test_erasure_keeps_every_sum_and_erases_the_person(
    two_studios: tuple[TrustStudio, TrustStudio],
    client: httpx.AsyncClient,
    owner_db: Owner,
    run_jobs: RunJobs,
) -> None:
    leaving = await _member_with_history(two_studios, owner_db, run_jobs, "Lerato")
    staying = await _member_with_history(two_studios, owner_db, run_jobs, "Sipho")
    leaving_id = leaving["user"]["id"]
    plan = await client.get(ERASURE, headers=leaving["headers"])
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["can_erase"] is True and body["blockers"] == []
    payments = next(item for item in body["kept"] if item["category"] == "payments")
    assert payments["count"] == 2
    assert payments["keep_until"] == f"{datetime.now(UTC).year + 7}" + payments["keep_until"][4:]
    assert "No name or email" in payments["description"]
    before = snapshot(owner_db)
    staying_before = owner_db.rows(
        "SELECT u.email, u.first_name, m.body, n.body FROM users u "
        "JOIN chat_messages m ON m.sender_user_id = u.id "
        "JOIN member_notes n ON n.user_id = u.id AND n.tenant_id = m.tenant_id "
        "WHERE u.id = %s ORDER BY m.seq",
        staying["user"]["id"],
    )

    erased = await client.post(ERASURE, headers=leaving["headers"], json={"password": PASSWORD})

    assert erased.status_code == 201, erased.text
    record = erased.json()
    assert record["requested_by"] == "self" and record["user_id"] == leaving_id
    assert record["counts"]["chat_messages"] == 2 and record["counts"]["staff_notes"] == 2
    assert snapshot(owner_db) == before
    user = owner_db.rows(
        "SELECT email, first_name, last_name, phone, password_hash, status, email_verified_at "
        "FROM users WHERE id = %s",
        leaving_id,
    )[0]
    assert user == (
        f"erased-{leaving_id}@erased.invalid",
        "Erased",
        "member",
        None,
        None,
        "erased",
        None,
    )
    assert owner_db.rows(
        "SELECT DISTINCT sender_name, body, attachment_key FROM chat_messages "
        "WHERE sender_user_id = %s",
        leaving_id,
    ) == [("Erased member", "(message erased)", None)]
    assert owner_db.value("SELECT count(*) FROM chat_rooms WHERE subject LIKE 'Lerato%%'") == 0
    for table in (
        "member_notes",
        "refresh_tokens",
        "push_subscriptions",
        "notification_preferences",
    ):
        assert owner_db.value(f"SELECT count(*) FROM {table} WHERE user_id = %s", leaving_id) == 0
    assert (
        owner_db.rows(
            "SELECT tenant_id, event, user_id, recipient, body_text FROM notifications "
            "WHERE recipient = %s OR body_text LIKE %s OR user_id = %s AND body_text <> '(erased)'",
            leaving["email"].lower(),
            f"%{leaving['email'].lower()}%",
            leaving_id,
        )
        == []
    )
    assert (
        owner_db.value(
            "SELECT count(*) FROM user_tenant_roles WHERE user_id = %s AND status = 'inactive'",
            leaving_id,
        )
        == 2
    )
    stored = owner_db.value(
        "SELECT counts::text FROM erasure_records WHERE user_id = %s", leaving_id
    )
    assert "Lerato" not in stored and "@" not in stored
    # The other member is untouched, in both studios.
    assert (
        owner_db.rows(
            "SELECT u.email, u.first_name, m.body, n.body FROM users u "
            "JOIN chat_messages m ON m.sender_user_id = u.id "
            "JOIN member_notes n ON n.user_id = u.id AND n.tenant_id = m.tenant_id "
            "WHERE u.id = %s ORDER BY m.seq",
            staying["user"]["id"],
        )
        == staying_before
    )
    assert len(staying_before) == 2
    assert (
        owner_db.value(
            "SELECT count(*) FROM push_subscriptions WHERE user_id = %s", staying["user"]["id"]
        )
        == 1
    )

    # No way back in: the password, the refresh token and the access token all fail.
    login = await client.post(
        "/api/v1/auth/login", json={"email": leaving["email"], "password": PASSWORD}
    )
    assert_error(login, 401, "INVALID_CREDENTIALS")
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": leaving["refresh_token"]}
    )
    assert refreshed.status_code == 401, refreshed.text
    assert_error(
        await client.get("/api/v1/users/profile", headers=leaving["headers"]), 401, "INVALID_TOKEN"
    )
    still = await client.get("/api/v1/users/profile", headers=staying["headers"])
    assert still.status_code == 200


async def test_blockers_refuse_and_change_nothing(
    two_studios: tuple[TrustStudio, TrustStudio], client: httpx.AsyncClient, owner_db: Owner
) -> None:
    studio = two_studios[0]
    member = await studio.new_member(credits=3)
    occurrence = await studio.occurrence(hours_ahead=30)
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    plan = (await client.get(ERASURE, headers=member["headers"])).json()
    assert plan["can_erase"] is False
    assert [b["code"] for b in plan["blockers"]] == ["UPCOMING_BOOKINGS"]
    assert "Cancel your upcoming bookings first" in plan["blockers"][0]["reason"]
    before = owner_db.rows("SELECT email, status FROM users WHERE id = %s", member["user"]["id"])

    refused = await client.post(ERASURE, headers=member["headers"], json={"password": PASSWORD})

    error = assert_error(refused, 409, "ERASURE_BLOCKED")
    assert error["details"]["blockers"][0]["studio"] == "Loop Yoga"
    assert (
        owner_db.rows("SELECT email, status FROM users WHERE id = %s", member["user"]["id"])
        == before
    )
    assert owner_db.value("SELECT count(*) FROM erasure_records") == 0
    # The studio's only owner must hand it over first.
    owner_plan = (await client.get(ERASURE, headers=studio.owner["headers"])).json()
    assert [b["code"] for b in owner_plan["blockers"]] == ["STUDIO_OWNER"]
    assert_error(
        await client.post(ERASURE, headers=studio.owner["headers"], json={"password": PASSWORD}),
        409,
        "ERASURE_BLOCKED",
    )


async def test_an_active_membership_blocks(
    two_studios: tuple[TrustStudio, TrustStudio], client: httpx.AsyncClient, owner_db: Owner
) -> None:
    studio = two_studios[1]
    member = await studio.new_member()
    owner_db.rows(
        "INSERT INTO membership_plans (tenant_id, name, price, interval) "
        "VALUES (%s, 'Monthly', 50000, 'month')",
        studio.tenant["id"],
    )
    owner_db.rows(
        "INSERT INTO subscriptions (tenant_id, user_id, plan_id, status, current_period_end) "
        "SELECT tenant_id, %s, id, 'active', now() + interval '20 days' FROM membership_plans",
        member["user"]["id"],
    )
    plan = (await client.get(ERASURE, headers=member["headers"])).json()
    assert [(b["code"], b["studio"]) for b in plan["blockers"]] == [
        ("ACTIVE_MEMBERSHIP", "City Gym")
    ]
    assert "Cancel it first" in plan["blockers"][0]["reason"]


async def test_wrong_password_and_no_token_change_nothing(
    api: Api, client: httpx.AsyncClient, owner_db: Owner
) -> None:
    member = await api.signup()
    wrong = await client.post(ERASURE, headers=member["headers"], json={"password": "nope12345"})
    assert_error(wrong, 400, "WRONG_PASSWORD")
    assert_error(await client.post(ERASURE, json={"password": PASSWORD}), 401, "UNAUTHORIZED")
    assert_error(await client.get(ERASURE), 401, "UNAUTHORIZED")
    empty = await client.post(ERASURE, headers=member["headers"], json={"password": ""})
    assert empty.status_code == 422
    assert (
        owner_db.value("SELECT status FROM users WHERE id = %s", member["user"]["id"]) == "active"
    )
    login = await client.post(
        "/api/v1/auth/login", json={"email": member["email"], "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_the_operator_erases_on_request_and_no_one_else_may(
    two_studios: tuple[TrustStudio, TrustStudio], client: httpx.AsyncClient, owner_db: Owner
) -> None:
    studio = two_studios[0]
    member = await studio.new_member(credits=2)
    operator = await studio.api.signup(first_name="Operator")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE id = %s", operator["user"]["id"])
    target = f"/api/v1/admin/users/{member['user']['id']}/erasure"
    for outsider in (member, studio.owner):
        refused = await client.post(target, headers=outsider["headers"], json={"reason": "GDPR-1"})
        assert_error(refused, 403, "FORBIDDEN")
        search = await client.get(
            "/api/v1/admin/users", params={"email": "example"}, headers=outsider["headers"]
        )
        assert_error(search, 403, "FORBIDDEN")
    found = await client.get(
        "/api/v1/admin/users", params={"email": member["email"][:10]}, headers=operator["headers"]
    )
    assert [u["id"] for u in found.json()] == [member["user"]["id"]]
    plan = await client.get(target, headers=operator["headers"])
    assert plan.json()["can_erase"] is True
    missing = await client.post(
        "/api/v1/admin/users/00000000-0000-0000-0000-00000000abcd/erasure",
        headers=operator["headers"],
        json={"reason": "GDPR-1"},
    )
    assert_error(missing, 404, "USER_NOT_FOUND")

    erased = await client.post(target, headers=operator["headers"], json={"reason": "GDPR-1"})

    assert erased.status_code == 201, erased.text
    assert erased.json()["requested_by"] == f"operator:{operator['user']['id']}"
    assert erased.json()["reason"] == "GDPR-1"
    again = await client.post(target, headers=operator["headers"], json={"reason": "GDPR-1"})
    assert_error(again, 409, "ALREADY_ERASED")
    assert owner_db.value("SELECT count(*) FROM erasure_records") == 1
    # The operator's own account is not erasable while it runs the platform.
    own = await client.get(
        f"/api/v1/admin/users/{operator['user']['id']}/erasure", headers=operator["headers"]
    )
    assert [b["code"] for b in own.json()["blockers"]] == ["PLATFORM_OPERATOR"]
