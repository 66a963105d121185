"""Registration, verification, sign-in, refresh rotation and password reset."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import jwt

from studioloop.config import Settings
from studioloop.core import security
from tests.conftest import PASSWORD, Api, Owner, assert_error

REGISTER = "/api/v1/auth/register"


def registration(email: str = "lindiwe@example.com", **overrides: object) -> dict[str, object]:
    return {
        "email": email,
        "password": "yoga2024",
        "first_name": "Lindiwe",
        "last_name": "Khumalo",
        "phone": "+27 82 123 4567",
        **overrides,
    }


async def test_sign_up_verify_and_use_profile(client, owner_db: Owner) -> None:
    response = await client.post(REGISTER, json=registration("Lindiwe@Example.com"))
    assert response.status_code == 201
    assert response.json()["email"] == "lindiwe@example.com"
    assert response.json()["verification_required"] is True

    # Not verified yet: the right password is still refused.
    login = await client.post(
        "/api/v1/auth/login", json={"email": "lindiwe@example.com", "password": "yoga2024"}
    )
    assert_error(login, 403, "EMAIL_NOT_VERIFIED")

    code = owner_db.latest_code("lindiwe@example.com")
    verified = await client.post(
        "/api/v1/auth/verify", json={"email": "LINDIWE@example.com", "code": code}
    )
    assert verified.status_code == 200
    tokens = verified.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert tokens["user"]["email_verified"] is True

    profile = await client.get(
        "/api/v1/users/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert profile.status_code == 200
    assert profile.json()["first_name"] == "Lindiwe"
    assert profile.json()["tenant_roles"] == []


async def test_verification_email_is_recorded_with_a_six_digit_code(client, owner_db) -> None:
    await client.post(REGISTER, json=registration())
    subject, category = owner_db.rows(
        "SELECT subject, event FROM notifications WHERE recipient = %s", "lindiwe@example.com"
    )[0]
    assert category == "verify_email"
    assert owner_db.latest_code("lindiwe@example.com") in subject
    expires_in = owner_db.value("SELECT expires_at - created_at FROM verification_codes")
    assert abs(expires_in - timedelta(minutes=15)) < timedelta(seconds=5)


async def test_duplicate_email_is_refused_case_insensitively(client, owner_db) -> None:
    await client.post(REGISTER, json=registration())
    again = await client.post(REGISTER, json=registration("LINDIWE@EXAMPLE.COM"))
    assert_error(again, 409, "EMAIL_TAKEN")
    assert owner_db.value("SELECT count(*) FROM users") == 1
    assert owner_db.value("SELECT count(*) FROM notifications") == 1


async def test_password_rules_and_missing_fields_name_the_fields(client, owner_db) -> None:
    short = await client.post(REGISTER, json=registration(password="abc1"))
    error = assert_error(short, 422, "VALIDATION_ERROR")
    assert [f["field"] for f in error["details"]["fields"]] == ["password"]

    letters_only = await client.post(REGISTER, json=registration(password="abcdefghij"))
    assert (
        "letters and digits"
        in assert_error(letters_only, 422, "VALIDATION_ERROR")["details"]["fields"][0]["message"]
    )

    missing = await client.post(REGISTER, json={"email": "not-an-email"})
    fields = {
        f["field"] for f in assert_error(missing, 422, "VALIDATION_ERROR")["details"]["fields"]
    }
    assert fields == {"email", "password", "first_name", "last_name"}
    assert owner_db.value("SELECT count(*) FROM users") == 0


async def test_five_wrong_codes_void_the_code(client, owner_db) -> None:
    await client.post(REGISTER, json=registration())
    code = owner_db.latest_code("lindiwe@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(1, 5):
        response = await client.post(
            "/api/v1/auth/verify", json={"email": "lindiwe@example.com", "code": wrong}
        )
        error = assert_error(response, 400, "INVALID_CODE")
        assert error["details"]["attempts_left"] == 5 - attempt
    fifth = await client.post(
        "/api/v1/auth/verify", json={"email": "lindiwe@example.com", "code": wrong}
    )
    assert_error(fifth, 400, "CODE_ATTEMPTS_EXCEEDED")
    # Even the right code no longer works; the user is still unverified.
    right = await client.post(
        "/api/v1/auth/verify", json={"email": "lindiwe@example.com", "code": code}
    )
    assert_error(right, 400, "CODE_ATTEMPTS_EXCEEDED")
    assert owner_db.value("SELECT email_verified_at FROM users") is None


async def test_expired_code_is_refused_and_a_new_one_works(client, owner_db) -> None:
    await client.post(REGISTER, json=registration())
    code = owner_db.latest_code("lindiwe@example.com")
    owner_db.rows("UPDATE verification_codes SET expires_at = now() - interval '1 second'")
    expired = await client.post(
        "/api/v1/auth/verify", json={"email": "lindiwe@example.com", "code": code}
    )
    assert_error(expired, 400, "CODE_EXPIRED")

    resend = await client.post("/api/v1/auth/verify/resend", json={"email": "lindiwe@example.com"})
    assert resend.status_code == 202
    fresh = owner_db.latest_code("lindiwe@example.com")
    ok = await client.post(
        "/api/v1/auth/verify", json={"email": "lindiwe@example.com", "code": fresh}
    )
    assert ok.status_code == 200


async def test_reused_verification_code_is_refused(client, owner_db) -> None:
    await client.post(REGISTER, json=registration())
    code = owner_db.latest_code("lindiwe@example.com")
    body = {"email": "lindiwe@example.com", "code": code}
    assert (await client.post("/api/v1/auth/verify", json=body)).status_code == 200
    assert_error(await client.post("/api/v1/auth/verify", json=body), 409, "ALREADY_VERIFIED")


async def test_unknown_email_and_wrong_password_look_the_same(api: Api, client) -> None:
    user = await api.signup("sam@example.com")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": "wrong-pass1"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong-pass1"}
    )
    first = assert_error(wrong, 401, "INVALID_CREDENTIALS")
    second = assert_error(unknown, 401, "INVALID_CREDENTIALS")
    assert first["message"] == second["message"]
    assert first["details"] == second["details"]


async def test_login_with_any_email_case(api: Api, client) -> None:
    await api.signup("Sam@Example.com")
    response = await client.post(
        "/api/v1/auth/login", json={"email": "SAM@example.COM", "password": PASSWORD}
    )
    assert response.status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api, client, owner_db) -> None:
    tokens = await api.signup()
    first = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]

    # The old token again: treated as theft, the whole family is closed.
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_error(replay, 401, "REFRESH_TOKEN_REUSED")
    # The newer token of that sign-in was closed with it.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert_error(after, 401, "SESSION_ENDED")
    assert owner_db.value("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL") == 0


async def test_concurrent_refreshes_with_one_token_succeed_once(api: Api, client) -> None:
    tokens = await api.signup()
    responses = await asyncio.gather(
        *[
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in responses).count(200) == 1


async def test_refresh_token_expires_after_its_lifetime(api: Api, client, owner_db) -> None:
    tokens = await api.signup()
    owner_db.rows("UPDATE refresh_tokens SET expires_at = now() - interval '1 minute'")
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_error(response, 401, "TOKEN_EXPIRED")
    lifetime = owner_db.value("SELECT max(created_at) FROM refresh_tokens")
    assert lifetime is not None


async def test_refresh_with_unknown_token(client) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert_error(response, 401, "INVALID_TOKEN")


async def test_logout_closes_the_session(api: Api, client) -> None:
    tokens = await api.signup()
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_error(again, 401, "SESSION_ENDED")


async def test_bad_access_tokens(api: Api, client, settings: Settings) -> None:
    tokens = await api.signup()
    profile = "/api/v1/users/profile"
    assert_error(await client.get(profile), 401, "UNAUTHORIZED")

    tampered = tokens["access_token"][:-4] + (
        "AAAA" if not tokens["access_token"].endswith("AAAA") else "BBBB"
    )
    assert_error(
        await client.get(profile, headers={"Authorization": f"Bearer {tampered}"}),
        401,
        "INVALID_TOKEN",
    )

    forged = jwt.encode(
        {"sub": tokens["user"]["id"], "typ": "access", "iat": 0, "exp": 4_000_000_000},
        "another-secret-of-sufficient-length-1234",
        algorithm="HS256",
    )
    assert_error(
        await client.get(profile, headers={"Authorization": f"Bearer {forged}"}),
        401,
        "INVALID_TOKEN",
    )

    past = datetime.now(UTC) - timedelta(hours=1)
    import uuid

    expired = security.create_access_token(settings, uuid.UUID(tokens["user"]["id"]), now=past)
    assert_error(
        await client.get(profile, headers={"Authorization": f"Bearer {expired}"}),
        401,
        "TOKEN_EXPIRED",
    )

    unsigned = jwt.encode(
        {"sub": tokens["user"]["id"], "typ": "access", "iat": 0, "exp": 4_000_000_000},
        None,
        algorithm="none",
    )
    assert_error(
        await client.get(profile, headers={"Authorization": f"Bearer {unsigned}"}),
        401,
        "INVALID_TOKEN",
    )

    basic = await client.get(profile, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


async def test_password_reset(api: Api, client, owner_db) -> None:
    tokens = await api.signup("reset@example.com")
    unknown = await client.post(
        "/api/v1/auth/password-reset/request", json={"email": "ghost@example.com"}
    )
    known = await client.post(
        "/api/v1/auth/password-reset/request", json={"email": "reset@example.com"}
    )
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert (
        owner_db.value(
            "SELECT count(*) FROM notifications WHERE recipient = %s", "ghost@example.com"
        )
        == 0
    )

    code = owner_db.latest_code("reset@example.com")
    # A wrong code for a real account and any code for an unknown email answer alike, so
    # the answer does not tell which emails have accounts; expired and voided codes too.
    wrong = "000000" if code != "000000" else "111111"
    answers = []
    for email in ("reset@example.com", "ghost@example.com"):
        refused = await client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"email": email, "code": wrong, "new_password": "newpass99"},
        )
        error = assert_error(refused, 400, "INVALID_CODE")
        answers.append((error["message"], error["details"]))
    assert answers[0] == answers[1]

    weak = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"email": "reset@example.com", "code": code, "new_password": "short"},
    )
    assert_error(weak, 422, "VALIDATION_ERROR")

    done = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"email": "reset@example.com", "code": code, "new_password": "newpass99"},
    )
    assert done.status_code == 200

    reused = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"email": "reset@example.com", "code": code, "new_password": "other999"},
    )
    assert_error(reused, 400, "INVALID_CODE")

    old = await client.post(
        "/api/v1/auth/login", json={"email": "reset@example.com", "password": PASSWORD}
    )
    assert_error(old, 401, "INVALID_CREDENTIALS")
    new = await client.post(
        "/api/v1/auth/login", json={"email": "reset@example.com", "password": "newpass99"}
    )
    assert new.status_code == 200
    # Sessions from before the reset are closed.
    stale = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert stale.status_code == 401


async def test_update_profile(api: Api, client) -> None:
    tokens = await api.signup()
    response = await client.put(
        "/api/v1/users/profile",
        headers=tokens["headers"],
        json={
            "first_name": "Naledi",
            "phone": "+27 83 000 1111",
            "preferences": {"language": "en"},
        },
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Naledi"
    assert response.json()["preferences"] == {"language": "en"}

    bad = await client.put(
        "/api/v1/users/profile",
        headers=tokens["headers"],
        json={"phone": "call me", "email": "x@example.com"},
    )
    fields = {f["field"] for f in assert_error(bad, 422, "VALIDATION_ERROR")["details"]["fields"]}
    assert fields == {"phone", "email"}


async def test_disabled_account_cannot_sign_in(api: Api, client, owner_db) -> None:
    tokens = await api.signup("banned@example.com")
    owner_db.rows("UPDATE users SET status = 'banned' WHERE email = 'banned@example.com'")
    login = await client.post(
        "/api/v1/auth/login", json={"email": "banned@example.com", "password": PASSWORD}
    )
    assert_error(login, 403, "ACCOUNT_DISABLED")
    profile = await client.get("/api/v1/users/profile", headers=tokens["headers"])
    assert_error(profile, 401, "INVALID_TOKEN")
