"""Cross-cutting HTTP behaviour: the error envelope, request ids, headers, limits."""

from __future__ import annotations

import httpx
import pytest

from studioloop.app import create_app
from studioloop.config import Settings
from tests.conftest import Api, assert_error


async def test_request_id_is_generated_or_echoed(client) -> None:
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/health", headers={"X-Request-ID": "lb-1234.abc"})
    assert echoed.headers["x-request-id"] == "lb-1234.abc"
    # A hostile value is replaced, not reflected.
    hostile = await client.get("/health", headers={"X-Request-ID": "<script>" + "x" * 100})
    assert hostile.headers["x-request-id"] != "<script>" + "x" * 100


async def test_security_headers(client) -> None:
    response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_unknown_path_and_wrong_method(client) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(await client.delete("/api/v1/auth/login"), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_a_clear_error(client, owner_db) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b'{"email": "a@example.com",',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "MALFORMED_JSON")
    assert owner_db.value("SELECT count(*) FROM users") == 0


async def test_oversized_body_is_refused(client, settings: Settings, owner_db) -> None:
    big = b'{"email": "' + b"a" * (settings.max_request_body_bytes + 10) + b'"}'
    declared = await client.post(
        "/api/v1/auth/register", content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(declared, 413, "PAYLOAD_TOO_LARGE")

    async def stream():  # no Content-Length: counted while reading
        for _ in range(settings.max_request_body_bytes // 65536 + 2):
            yield b"a" * 65536

    streamed = await client.post(
        "/api/v1/auth/register", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert owner_db.value("SELECT count(*) FROM users") == 0


async def test_unexpected_errors_use_the_envelope(app, client) -> None:
    @app.get("/api/v1/test-boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    response = await client.get("/api/v1/test-boom")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "bug" not in error["message"]


def low_limit_app(settings: Settings, **limits: str):
    return create_app(settings.model_copy(update=limits))


@pytest.fixture
async def limited(database, settings: Settings):
    app = low_limit_app(
        settings,
        rate_limit_anonymous="3/hour",
        rate_limit_authenticated="5/hour",
        rate_limit_sensitive="2/minute",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


async def test_anonymous_rate_limit_with_retry_after(limited) -> None:
    for _ in range(3):
        assert (await limited.get("/api/v1/tenants")).status_code == 200
    blocked = await limited.get("/api/v1/tenants")
    error = assert_error(blocked, 429, "RATE_LIMITED")
    assert 0 < int(blocked.headers["retry-after"]) <= 3600
    assert error["details"]["retry_after_seconds"] == int(blocked.headers["retry-after"])
    # Operational endpoints are not rate limited.
    assert (await limited.get("/health")).status_code == 200


async def test_sign_in_has_a_tighter_limit(limited, owner_db) -> None:
    body = {"email": "nobody@example.com", "password": "whatever1"}
    assert (await limited.post("/api/v1/auth/login", json=body)).status_code == 401
    assert (await limited.post("/api/v1/auth/login", json=body)).status_code == 401
    third = await limited.post("/api/v1/auth/login", json=body)
    assert_error(third, 429, "RATE_LIMITED")


async def test_signed_in_callers_have_their_own_budget(limited, api: Api, settings) -> None:
    user = await api.signup()  # through the unlimited client
    for _ in range(5):
        ok = await limited.get("/api/v1/users/profile", headers=user["headers"])
        assert ok.status_code == 200
    assert_error(
        await limited.get("/api/v1/users/profile", headers=user["headers"]), 429, "RATE_LIMITED"
    )
    # A forged token does not buy the signed-in budget: it counts as anonymous.
    forged = {"Authorization": "Bearer not.a.token"}
    statuses = [
        (await limited.get("/api/v1/tenants", headers=forged)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


async def test_cors_allow_list(database, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://loopyoga.example.com"]}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        allowed = await client.options(
            "/api/v1/tenants",
            headers={
                "Origin": "https://loopyoga.example.com",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert allowed.headers["access-control-allow-origin"] == "https://loopyoga.example.com"
        denied = await client.options(
            "/api/v1/tenants",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in denied.headers


async def test_nul_characters_are_invalid_input_not_a_crash(api: Api, client, owner_db) -> None:
    register = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "nul@example.com",
            "password": "secret123",
            "first_name": "A\u0000B",
            "last_name": "C",
        },
    )
    assert_error(register, 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM users") == 0
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    for response in (
        await client.patch(
            "/api/v1/tenants/loop-yoga",
            headers=owner["headers"],
            json={"settings": {"a": "b\u0000c"}},
        ),
        await client.put(
            "/api/v1/users/profile", headers=owner["headers"], json={"preferences": {"k\u0000": 1}}
        ),
        await client.get(
            "/api/v1/tenants/loop-yoga/members", headers=owner["headers"], params={"q": "a\u0000b"}
        ),
        await client.get("/api/v1/tenants/ab%00cd"),
    ):
        assert response.status_code in (404, 422), response.text
        assert response.json()["error"]["code"] in ("VALIDATION_ERROR", "TENANT_NOT_FOUND")


async def test_unreadable_body_and_both_kinds_of_oversized_body(client, settings) -> None:
    bad_utf8 = await client.post(
        "/api/v1/auth/login",
        content=b'{"email": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert bad_utf8.status_code in (400, 422)
    assert bad_utf8.json()["error"]["code"] in (
        "MALFORMED_BODY",
        "MALFORMED_JSON",
        "VALIDATION_ERROR",
    )

    async def stream():
        for _ in range(settings.max_request_body_bytes // 65536 + 2):
            yield b"a" * 65536

    streamed = await client.post(
        "/api/v1/auth/login", content=stream(), headers={"Content-Type": "application/json"}
    )
    declared = await client.post(
        "/api/v1/auth/login",
        content=b"a" * (settings.max_request_body_bytes + 1),
        headers={"Content-Type": "application/json"},
    )
    for response in (streamed, declared):
        error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert error["details"] == {"max_bytes": settings.max_request_body_bytes}
