"""API keys: managed by a studio's owner and admins, shown once, stored hashed; a key works
on the endpoints its scopes allow, in its own studio only, under its studio's row-level
security, with a rate limit of its own."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import text

from studioloop.api_keys import service
from studioloop.api_keys.dependencies import ApiKeyCaller, enforce_rate_limit, require_scope
from studioloop.api_keys.exceptions import InvalidApiKey
from studioloop.api_keys.schemas import Scope
from studioloop.api_keys.scopes import SCOPES
from studioloop.app import create_app
from studioloop.config import Settings
from studioloop.db.session import DbSession
from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner, assert_error

ALL_SCOPES = ["bookings:read", "members:read"]


async def make_key(
    studio: BookingStudio, scopes: list[str], *, as_user: dict[str, Any] | None = None
) -> dict[str, Any]:
    created = await studio.client.post(
        f"{studio.base}/api-keys",
        headers=(as_user or studio.owner)["headers"],
        json={"name": "Reporting server", "scopes": scopes},
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    body["headers"] = {"Authorization": f"Bearer {body['secret']}"}
    return body


def probe_router() -> APIRouter:
    """An endpoint with no studio in its path, as usage ingestion is, that reads a studio
    table: it sees the key's studio's rows only if row-level security has it in context."""
    router = APIRouter()

    @router.get("/api/v1/test-key-probe")
    async def probe(
        caller: Annotated[ApiKeyCaller, Depends(require_scope("usage:write"))],
        session: DbSession,
    ) -> dict[str, Any]:
        keys = (await session.execute(text("SELECT id FROM api_keys"))).scalars().all()
        return {
            "tenant_id": str(caller.tenant_id),
            "key_id": str(caller.key_id),
            "scopes": sorted(caller.scopes),
            "visible_keys": sorted(str(k) for k in keys),
        }

    return router


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()


async def test_the_scopes_are_one_list() -> None:
    assert set(Scope.__args__) == set(SCOPES)  # type: ignore[attr-defined]


async def test_create_list_revoke_and_the_secret_is_shown_once(
    studio: BookingStudio, owner_db: Owner
) -> None:
    key = await make_key(studio, ["members:read", "bookings:read"])
    secret = key["secret"]
    assert secret.startswith(f"sl_live_{key['prefix']}_")
    assert len(key["prefix"]) == 8
    assert key["scopes"] == ["bookings:read", "members:read"]
    assert key["created_by_user_id"] == studio.owner["user"]["id"]
    assert key["last_used_at"] is None and key["revoked_at"] is None

    listed = await studio.client.get(f"{studio.base}/api-keys", headers=studio.owner["headers"])
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["id"] == key["id"] and row["prefix"] == key["prefix"]
    assert row["created_by_name"] == "Owner User"
    assert "secret" not in row and secret not in listed.text

    # Stored as its SHA-256 only: the row holds neither the key nor its secret part.
    stored = owner_db.rows("SELECT * FROM api_keys WHERE id = %s", key["id"])[0]
    assert bytes(stored[owner_db_column(owner_db, "secret_hash")]) == (
        hashlib.sha256(secret.encode()).digest()
    )
    assert not any(secret.split("_")[-1] in str(value) for value in stored)

    ok = await studio.client.get(f"{studio.base}/members", headers=key["headers"])
    assert ok.status_code == 200, ok.text

    revoked = await studio.client.delete(
        f"{studio.base}/api-keys/{key['id']}", headers=studio.owner["headers"]
    )
    assert revoked.status_code == 204
    again = await studio.client.delete(
        f"{studio.base}/api-keys/{key['id']}", headers=studio.owner["headers"]
    )
    assert again.status_code == 204
    [row] = (
        await studio.client.get(f"{studio.base}/api-keys", headers=studio.owner["headers"])
    ).json()
    assert row["revoked_at"] is not None
    assert_error(
        await studio.client.get(f"{studio.base}/members", headers=key["headers"]),
        401,
        "API_KEY_REVOKED",
    )
    missing = await studio.client.delete(
        f"{studio.base}/api-keys/{uuid.uuid4()}", headers=studio.owner["headers"]
    )
    assert_error(missing, 404, "API_KEY_NOT_FOUND")


def owner_db_column(owner_db: Owner, name: str) -> int:
    columns = [
        row[0]
        for row in owner_db.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys' "
            "ORDER BY ordinal_position"
        )
    ]
    return columns.index(name)


async def test_a_key_reads_members_and_a_class_roster_with_its_scopes(
    studio: BookingStudio,
) -> None:
    occurrence = await studio.occurrence(capacity=3)
    member = await studio.new_member(credits=2)
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    key = await make_key(studio, ALL_SCOPES)

    roster = await studio.client.get(
        f"{studio.base}/schedules/{occurrence['id']}/bookings", headers=key["headers"]
    )
    assert roster.status_code == 200, roster.text
    assert [entry["user_id"] for entry in roster.json()] == [member["user"]["id"]]

    # The slug-less copy of the members list, the studio taken from the key.
    people = await studio.client.get("/api/v1/members", headers=key["headers"])
    assert people.status_code == 200, people.text
    emails = {item["email"] for item in people.json()["items"]}
    assert studio.owner["email"] in emails and member["email"] in emails

    # Staff tokens work as before on the same endpoints.
    as_instructor = await studio.client.get(
        f"{studio.base}/schedules/{occurrence['id']}/bookings",
        headers=studio.instructor["headers"],
    )
    assert as_instructor.status_code == 200
    assert_error(
        await studio.client.get(f"{studio.base}/members", headers=studio.instructor["headers"]),
        403,
        "INSUFFICIENT_ROLE",
    )


async def test_a_scope_not_granted_is_refused_by_name(studio: BookingStudio) -> None:
    key = await make_key(studio, ["bookings:read"])
    error = assert_error(
        await studio.client.get(f"{studio.base}/members", headers=key["headers"]),
        403,
        "SCOPE_MISSING",
    )
    assert error["details"] == {"missing_scope": "members:read"}
    assert "members:read" in error["message"]


async def test_a_key_on_another_studios_url_is_refused(studio: BookingStudio, api: Api) -> None:
    other = await BookingStudio(api, "jozi-hiit").setup()
    key = await make_key(studio, ALL_SCOPES)
    assert_error(
        await studio.client.get(f"{other.base}/members", headers=key["headers"]),
        403,
        "API_KEY_WRONG_STUDIO",
    )
    assert_error(
        await studio.client.get(
            "/api/v1/members", headers={**key["headers"], "X-Tenant-ID": "jozi-hiit"}
        ),
        403,
        "API_KEY_WRONG_STUDIO",
    )
    assert_error(
        await studio.client.get("/api/v1/tenants/nowhere/members", headers=key["headers"]),
        404,
        "TENANT_NOT_FOUND",
    )


@pytest.mark.parametrize(
    "bearer",
    [
        "sl_",
        "sl_live_",
        "sl_live_abcdefgh_" + "A" * 43,  # well formed, unknown
        "sl_live_ABCDEFGH_" + "A" * 43,
        "sl_live_abcdefgh_" + "A" * 42 + "!",
        "sl_live_abcdefgh_" + "A" * 10_000,
        "sl_" + "x" * 5000,
        "sl_live_abcdefgh_" + "A" * 42 + "%00",
    ],
)
async def test_unknown_and_malformed_keys_are_401(
    studio: BookingStudio, bearer: str, client: httpx.AsyncClient
) -> None:
    await make_key(studio, ALL_SCOPES)
    headers = {"Authorization": f"Bearer {bearer}"}
    response = await client.get(f"{studio.base}/members", headers=headers)
    assert_error(response, 401, "INVALID_API_KEY")


async def test_a_nul_in_a_key_is_invalid(database: Any) -> None:
    """HTTP clients refuse to send a NUL in a header; the check does not rely on that."""
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidApiKey):
            await service.verify(session, "sl_live_abcdefgh_" + "A" * 42 + "\x00")
        with pytest.raises(InvalidApiKey):
            await service.verify(session, "sl_live_abc\x00efgh_" + "A" * 43)


async def test_a_keys_real_prefix_with_a_wrong_secret_is_401(studio: BookingStudio) -> None:
    key = await make_key(studio, ALL_SCOPES)
    forged = f"sl_live_{key['prefix']}_" + "B" * 43
    assert_error(
        await studio.client.get(
            f"{studio.base}/members", headers={"Authorization": f"Bearer {forged}"}
        ),
        401,
        "INVALID_API_KEY",
    )


async def test_a_key_cannot_manage_keys(studio: BookingStudio) -> None:
    key = await make_key(studio, ALL_SCOPES)
    for response in (
        await studio.client.get(f"{studio.base}/api-keys", headers=key["headers"]),
        await studio.client.post(
            f"{studio.base}/api-keys",
            headers=key["headers"],
            json={"name": "x", "scopes": ["members:read"]},
        ),
        await studio.client.delete(f"{studio.base}/api-keys/{key['id']}", headers=key["headers"]),
    ):
        assert_error(response, 401, "INVALID_TOKEN")


async def test_members_and_instructors_cannot_manage_keys(
    studio: BookingStudio, owner_db: Owner
) -> None:
    key = await make_key(studio, ALL_SCOPES)
    admin = await studio.add_staff("admin", "Ada")
    assert (await make_key(studio, ["members:read"], as_user=admin))["created_by_name"] == (
        "Ada User"
    )
    for person in (studio.member, studio.instructor):
        for response in (
            await studio.client.get(f"{studio.base}/api-keys", headers=person["headers"]),
            await studio.client.post(
                f"{studio.base}/api-keys",
                headers=person["headers"],
                json={"name": "x", "scopes": ["members:read"]},
            ),
            await studio.client.delete(
                f"{studio.base}/api-keys/{key['id']}", headers=person["headers"]
            ),
        ):
            assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert owner_db.value("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == 2


async def test_bad_key_requests_are_refused_and_change_nothing(
    studio: BookingStudio, owner_db: Owner
) -> None:
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin:everything"]},
        {"name": "", "scopes": ["members:read"]},
        {"name": "x" * 101, "scopes": ["members:read"]},
        {"name": "x", "scopes": ["members:read"], "secret": "mine"},
    ):
        response = await studio.client.post(
            f"{studio.base}/api-keys", headers=studio.owner["headers"], json=body
        )
        assert_error(response, 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM api_keys") == 0


async def test_a_key_of_one_studio_cannot_be_revoked_through_another(
    studio: BookingStudio, api: Api
) -> None:
    other = await BookingStudio(api, "jozi-hiit").setup()
    key = await make_key(studio, ALL_SCOPES)
    response = await other.client.delete(
        f"{other.base}/api-keys/{key['id']}", headers=other.owner["headers"]
    )
    assert_error(response, 404, "API_KEY_NOT_FOUND")
    ok = await studio.client.get(f"{studio.base}/members", headers=key["headers"])
    assert ok.status_code == 200


async def test_require_scope_enters_the_keys_studio_without_a_slug(
    app: Any, studio: BookingStudio, api: Api, client: httpx.AsyncClient
) -> None:
    app.include_router(probe_router(), dependencies=[Depends(enforce_rate_limit)])
    other = await BookingStudio(api, "jozi-hiit").setup()
    other_key = await make_key(other, ["usage:write"])
    key = await make_key(studio, ["usage:write", "members:read"])
    response = await client.get("/api/v1/test-key-probe", headers=key["headers"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant_id"] == studio.tenant["id"]
    assert body["key_id"] == key["id"]
    assert body["scopes"] == ["members:read", "usage:write"]
    # Row-level security has the key's studio in context: its keys, not the other's.
    assert body["visible_keys"] == [key["id"]]
    assert other_key["id"] not in body["visible_keys"]

    narrow = await make_key(studio, ["members:read"])
    error = assert_error(
        await client.get("/api/v1/test-key-probe", headers=narrow["headers"]), 403, "SCOPE_MISSING"
    )
    assert error["details"] == {"missing_scope": "usage:write"}
    assert_error(await client.get("/api/v1/test-key-probe"), 401, "UNAUTHORIZED")
    # A staff member's access token is no key.
    assert_error(
        await client.get("/api/v1/test-key-probe", headers=studio.owner["headers"]),
        401,
        "UNAUTHORIZED",
    )


async def test_last_used_is_set_at_most_once_a_minute(
    studio: BookingStudio, owner_db: Owner
) -> None:
    key = await make_key(studio, ALL_SCOPES)
    assert await studio.client.get(f"{studio.base}/members", headers=key["headers"])
    first = owner_db.value("SELECT last_used_at FROM api_keys WHERE id = %s", key["id"])
    assert first is not None
    await studio.client.get(f"{studio.base}/members", headers=key["headers"])
    assert owner_db.value("SELECT last_used_at FROM api_keys WHERE id = %s", key["id"]) == first
    # A minute later, the next use is written.
    moved_back = owner_db.value(
        "UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds' "
        "WHERE id = %s RETURNING last_used_at",
        key["id"],
    )
    await studio.client.get(f"{studio.base}/members", headers=key["headers"])
    later = owner_db.value("SELECT last_used_at FROM api_keys WHERE id = %s", key["id"])
    assert later > moved_back
    [row] = (
        await studio.client.get(f"{studio.base}/api-keys", headers=studio.owner["headers"])
    ).json()
    assert row["last_used_at"] is not None


async def test_each_key_has_its_own_rate_limit(
    database: Any, settings: Settings, studio: BookingStudio
) -> None:
    first = await make_key(studio, ALL_SCOPES)
    second = await make_key(studio, ALL_SCOPES)
    limited_app = create_app(
        settings.model_copy(
            update={"rate_limit_api_key": "3/minute", "rate_limit_anonymous": "2/hour"}
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=limited_app), base_url="http://testserver"
    ) as limited:
        statuses = [
            (await limited.get(f"{studio.base}/members", headers=first["headers"])).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        blocked = await limited.get(f"{studio.base}/members", headers=first["headers"])
        error = assert_error(blocked, 429, "RATE_LIMITED")
        assert int(blocked.headers["retry-after"]) == error["details"]["retry_after_seconds"]
        # Another key of the same studio, from the same address, has its own budget.
        ok = await limited.get(f"{studio.base}/members", headers=second["headers"])
        assert ok.status_code == 200
        # Made-up keys buy nothing: they count against the address's anonymous budget.
        fake = {"Authorization": "Bearer sl_live_abcdefgh_" + "C" * 43}
        fakes = [(await limited.get("/api/v1/tenants", headers=fake)).status_code for _ in range(3)]
        assert fakes == [200, 200, 429]


async def test_a_suspended_studios_key_is_refused_and_a_cancelled_ones_is_unknown(
    app: Any, studio: BookingStudio, owner_db: Owner, client: httpx.AsyncClient
) -> None:
    app.include_router(probe_router(), dependencies=[Depends(enforce_rate_limit)])
    key = await make_key(studio, ["usage:write"])
    owner_db.rows("UPDATE tenants SET status = 'suspended' WHERE slug = 'loop-yoga' RETURNING id")
    assert_error(
        await client.get("/api/v1/test-key-probe", headers=key["headers"]),
        403,
        "TENANT_SUSPENDED",
    )
    owner_db.rows("UPDATE tenants SET status = 'cancelled' WHERE slug = 'loop-yoga' RETURNING id")
    assert_error(
        await client.get("/api/v1/test-key-probe", headers=key["headers"]),
        401,
        "INVALID_API_KEY",
    )
