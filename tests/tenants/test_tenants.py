"""Creating, listing and changing tenants; resolving the tenant of a request."""

from __future__ import annotations

import pytest

from tests.conftest import Api, assert_error


async def test_create_tenant_makes_the_caller_owner(api: Api, client) -> None:
    lerato = await api.signup()
    tenant = await api.create_tenant(
        lerato,
        "loop-yoga",
        name="Loop Yoga",
        timezone="Africa/Johannesburg",
        address={"city": "Cape Town", "country": "ZA"},
    )
    assert tenant["slug"] == "loop-yoga"
    assert tenant["currency"] == "ZAR"
    assert tenant["status"] == "active"
    assert tenant["subscription_tier"] == "starter"
    assert tenant["marketplace_enabled"] is True

    profile = (await client.get("/api/v1/users/profile", headers=lerato["headers"])).json()
    assert [(r["tenant_slug"], r["role"]) for r in profile["tenant_roles"]] == [
        ("loop-yoga", "owner")
    ]

    public = await client.get("/api/v1/tenants/loop-yoga")
    assert public.status_code == 200
    assert "settings" not in public.json()  # admins-only fields stay private


async def test_create_tenant_requires_sign_in(client) -> None:
    response = await client.post(
        "/api/v1/tenants", json={"name": "X", "slug": "xyz", "email": "a@example.com"}
    )
    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("Loop-Yoga", "lowercase"),
        ("ab", "at least 3"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("-yoga", "a-z"),
        ("yoga--studio", "a-z"),
        ("yoga_studio", "a-z"),
    ],
)
async def test_bad_slugs_are_refused(api: Api, client, owner_db, slug: str, reason: str) -> None:
    user = await api.signup()
    response = await client.post(
        "/api/v1/tenants",
        headers=user["headers"],
        json={"name": "Yoga", "slug": slug, "email": "a@example.com"},
    )
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["field"] == "slug"
    assert reason in error["details"]["fields"][0]["message"]
    assert owner_db.value("SELECT count(*) FROM tenants") == 0


async def test_duplicate_slug_is_a_conflict_and_changes_nothing(api: Api, client, owner_db) -> None:
    first, second = await api.signup(), await api.signup()
    await api.create_tenant(first, "loop-yoga")
    response = await client.post(
        "/api/v1/tenants",
        headers=second["headers"],
        json={"name": "Copycat", "slug": "loop-yoga", "email": "c@example.com"},
    )
    assert_error(response, 409, "SLUG_TAKEN")
    assert owner_db.value("SELECT count(*) FROM tenants") == 1
    assert owner_db.value("SELECT count(*) FROM user_tenant_roles") == 1


async def test_invalid_timezone_and_currency(api: Api, client) -> None:
    user = await api.signup()
    response = await client.post(
        "/api/v1/tenants",
        headers=user["headers"],
        json={
            "name": "Yoga",
            "slug": "yoga-one",
            "email": "a@example.com",
            "timezone": "Mars/Olympus",
            "currency": "XXX",
        },
    )
    fields = {
        f["field"] for f in assert_error(response, 422, "VALIDATION_ERROR")["details"]["fields"]
    }
    assert fields == {"timezone", "currency"}


async def test_list_shows_active_marketplace_tenants_with_cursor_pages(
    api: Api, client, owner_db
) -> None:
    owner = await api.signup()
    for slug in ("alpha-fit", "bravo-fit", "charlie-fit", "delta-fit"):
        await api.create_tenant(owner, slug)
    await api.create_tenant(owner, "hidden-fit", marketplace_enabled=False)
    await api.create_tenant(owner, "gone-fit")
    owner_db.rows("UPDATE tenants SET status = 'suspended' WHERE slug = 'gone-fit'")

    first = (await client.get("/api/v1/tenants", params={"limit": 3})).json()
    assert [t["slug"] for t in first["items"]] == ["alpha-fit", "bravo-fit", "charlie-fit"]
    second = (
        await client.get("/api/v1/tenants", params={"limit": 3, "cursor": first["next_cursor"]})
    ).json()
    assert [t["slug"] for t in second["items"]] == ["delta-fit"]
    assert second["next_cursor"] is None

    bad = await client.get("/api/v1/tenants", params={"cursor": "not-a-cursor"})
    assert_error(bad, 422, "VALIDATION_ERROR")
    assert_error(await client.get("/api/v1/tenants/gone-fit"), 404, "TENANT_NOT_FOUND")
    assert_error(await client.get("/api/v1/tenants/no-such-studio"), 404, "TENANT_NOT_FOUND")


async def test_admins_patch_and_others_cannot(api: Api, client, owner_db) -> None:
    owner, member, stranger = await api.signup(), await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await api.join(member, "loop-yoga")

    ok = await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=owner["headers"],
        json={"name": "Loop Yoga & Pilates", "settings": {"late_cancel_hours": 12}},
    )
    assert ok.status_code == 200
    assert ok.json()["name"] == "Loop Yoga & Pilates"
    assert ok.json()["settings"] == {"late_cancel_hours": 12}

    for user in (member, stranger):
        denied = await client.patch(
            "/api/v1/tenants/loop-yoga", headers=user["headers"], json={"name": "Hijacked"}
        )
        assert_error(denied, 403, "INSUFFICIENT_ROLE")
    assert_error(
        await client.patch("/api/v1/tenants/loop-yoga", json={"name": "X"}), 401, "UNAUTHORIZED"
    )

    # Status and tier belong to the platform operator.
    self_upgrade = await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=owner["headers"],
        json={"subscription_tier": "enterprise"},
    )
    assert_error(self_upgrade, 403, "FORBIDDEN")
    assert owner_db.value("SELECT name FROM tenants") == "Loop Yoga & Pilates"
    assert owner_db.value("SELECT subscription_tier FROM tenants") == "starter"

    unknown = await client.patch(
        "/api/v1/tenants/nope-studio", headers=owner["headers"], json={"name": "Nope"}
    )
    assert_error(unknown, 404, "TENANT_NOT_FOUND")
    extra = await client.patch(
        "/api/v1/tenants/loop-yoga", headers=owner["headers"], json={"slug": "renamed"}
    )
    assert_error(extra, 422, "VALIDATION_ERROR")


async def test_platform_operator_suspends_and_restores(api: Api, client, owner_db) -> None:
    owner, operator = await api.signup(), await api.signup()
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    await api.create_tenant(owner, "loop-yoga")

    suspended = await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=operator["headers"],
        json={"status": "suspended", "subscription_tier": "pro"},
    )
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    members = await client.get("/api/v1/tenants/loop-yoga/members", headers=owner["headers"])
    assert_error(members, 403, "TENANT_SUSPENDED")

    restored = await client.patch(
        "/api/v1/tenants/loop-yoga", headers=operator["headers"], json={"status": "active"}
    )
    assert restored.json()["status"] == "active"
    members = await client.get("/api/v1/tenants/loop-yoga/members", headers=owner["headers"])
    assert members.status_code == 200


async def test_tenant_context_from_path_header_and_host(
    api: Api, client, settings, owner_db
) -> None:
    owner = await api.signup()
    loop = await api.create_tenant(owner, "loop-yoga")
    await api.create_tenant(owner, "jozi-hiit")
    h = owner["headers"]

    def slugs(response) -> set[str]:
        assert response.status_code == 200, response.text
        return {m["email"] for m in response.json()["items"]}

    by_path = await client.get("/api/v1/tenants/loop-yoga/members", headers=h)
    by_id = await client.get("/api/v1/members", headers={**h, "X-Tenant-ID": loop["id"]})
    by_slug = await client.get("/api/v1/members", headers={**h, "X-Tenant-ID": "loop-yoga"})
    by_host = await client.get(
        "/api/v1/members", headers={**h, "Host": f"loop-yoga.{settings.base_domain}"}
    )
    assert slugs(by_path) == slugs(by_id) == slugs(by_slug) == slugs(by_host) == {owner["email"]}

    # The path wins over the header, the header over the host.
    path_first = await client.get(
        "/api/v1/tenants/loop-yoga/members", headers={**h, "X-Tenant-ID": "no-such-studio"}
    )
    assert path_first.status_code == 200
    header_first = await client.get(
        "/api/v1/members",
        headers={**h, "X-Tenant-ID": "loop-yoga", "Host": f"nope.{settings.base_domain}"},
    )
    assert header_first.status_code == 200

    assert_error(await client.get("/api/v1/members", headers=h), 400, "TENANT_REQUIRED")
    assert_error(
        await client.get("/api/v1/members", headers={**h, "X-Tenant-ID": "nope-studio"}),
        404,
        "TENANT_NOT_FOUND",
    )
    assert_error(
        await client.get("/api/v1/members", headers={**h, "Host": f"nope.{settings.base_domain}"}),
        404,
        "TENANT_NOT_FOUND",
    )


async def test_custom_domain_counts_once_verified_and_cache_follows(
    api: Api, client, owner_db
) -> None:
    owner, operator = await api.signup(), await api.signup()
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    await api.create_tenant(owner, "loop-yoga")
    host = {**owner["headers"], "Host": "book.loopyoga.example.com"}

    assert_error(await client.get("/api/v1/members", headers=host), 404, "TENANT_NOT_FOUND")
    await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=owner["headers"],
        json={"custom_domain": "Book.LoopYoga.example.com"},
    )
    # Connected but not verified: still not routed (and the negative answer was cached).
    assert_error(await client.get("/api/v1/members", headers=host), 404, "TENANT_NOT_FOUND")

    self_verify = await client.patch(
        "/api/v1/tenants/loop-yoga", headers=owner["headers"], json={"custom_domain_verified": True}
    )
    assert_error(self_verify, 403, "FORBIDDEN")
    verified = await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=operator["headers"],
        json={"custom_domain_verified": True},
    )
    assert verified.json()["custom_domain"] == "book.loopyoga.example.com"
    assert verified.json()["custom_domain_verified_at"] is not None
    assert (await client.get("/api/v1/members", headers=host)).status_code == 200

    # Another studio cannot claim the same domain.
    other = await api.create_tenant(owner, "jozi-hiit")
    taken = await client.patch(
        f"/api/v1/tenants/{other['slug']}",
        headers=owner["headers"],
        json={"custom_domain": "book.loopyoga.example.com"},
    )
    assert_error(taken, 409, "DOMAIN_TAKEN")
    bad = await client.patch(
        "/api/v1/tenants/loop-yoga",
        headers=owner["headers"],
        json={"custom_domain": "not a domain"},
    )
    assert_error(bad, 422, "VALIDATION_ERROR")


async def test_a_change_in_one_process_clears_every_process_cache(
    api: Api, client, owner_conninfo: str
) -> None:
    """Another api process's cache (simulated by its own listener) forgets on commit."""
    import asyncio
    import uuid

    from studioloop.tenants.cache import TenantCache, TenantRef, listen_for_changes

    other_process_cache = TenantCache(ttl_seconds=3600)
    listener = asyncio.create_task(listen_for_changes(owner_conninfo, other_process_cache))
    try:
        owner = await api.signup()
        await api.create_tenant(owner, "loop-yoga")
        await asyncio.sleep(0.3)  # the listener is connected and has drained
        stale = TenantRef(uuid.uuid4(), "loop-yoga", "Old name", "active", "UTC", "ZAR")
        other_process_cache.put(("slug", "loop-yoga"), stale)

        await client.patch(
            "/api/v1/tenants/loop-yoga", headers=owner["headers"], json={"name": "New name"}
        )
        for _ in range(50):
            if other_process_cache.get(("slug", "loop-yoga")) == (False, None):
                break
            await asyncio.sleep(0.1)
        assert other_process_cache.get(("slug", "loop-yoga")) == (False, None)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
