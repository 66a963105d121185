"""Tenant isolation: row-level security everywhere, and no way round it through the API."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.conftest import Api, Owner, assert_error

# Tables whose rows may belong to no studio on purpose, and why. Their policies hide such
# rows from every studio's context (tests/notifications/test_history.py checks it).
PLATFORM_ROWS_ALLOWED = {"notifications": "platform messages (sign-up codes) have no studio"}


def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(owner_db: Owner) -> None:
    tables = [
        row[0]
        for row in owner_db.rows(
            """SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'
             AND t.table_type = 'BASE TABLE'"""
        )
    ]
    assert "user_tenant_roles" in tables
    problems = []
    for table in tables:
        enabled, forced = owner_db.rows(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = %s AND relnamespace = 'public'::regnamespace",
            table,
        )[0]
        policies = [
            row[0]
            for row in owner_db.rows(
                "SELECT coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies "
                "WHERE schemaname = 'public' AND tablename = %s",
                table,
            )
        ]
        nullable = owner_db.value(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = %s AND column_name = 'tenant_id'",
            table,
        )
        # A partition (usage_events' months) is reached through its parent, whose forced
        # policy applies; its own policy is enabled but not forced, so the schema owner's
        # upkeep sees every studio's rows (migration 0034_usage_metering).
        partition = owner_db.value(
            "SELECT relispartition FROM pg_class "
            "WHERE relname = %s AND relnamespace = 'public'::regnamespace",
            table,
        )
        if not enabled or not (forced or partition):
            problems.append(f"{table}: RLS enabled={enabled} forced={forced}")
        if not any("app.tenant_id" in p for p in policies):
            problems.append(f"{table}: no policy on current_setting('app.tenant_id')")
        if nullable != "NO" and table not in PLATFORM_ROWS_ALLOWED:
            problems.append(f"{table}: tenant_id is nullable")
    assert problems == []


def test_app_role_cannot_bypass_rls_and_owns_nothing(owner_db: Owner, settings) -> None:
    role = settings.database_app_role
    super_, bypass = owner_db.rows(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", role
    )[0]
    assert (super_, bypass) == (False, False)
    owned = owner_db.value(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s", role
    )
    assert owned == 0


async def test_the_app_runs_queries_as_the_app_role(database, settings) -> None:
    async with database.sessionmaker() as session:
        assert await session.scalar(text("SELECT current_user")) == settings.database_app_role


async def test_without_a_tenant_in_context_no_tenant_rows_are_visible(api: Api, database) -> None:
    owner = await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    async with database.sessionmaker() as session:
        assert await session.scalar(text("SELECT count(*) FROM user_tenant_roles")) == 0


async def test_rls_confines_reads_and_writes_to_the_tenant(api: Api, database) -> None:
    owner_a, owner_b = await api.signup(), await api.signup()
    a = await api.create_tenant(owner_a, "studio-a")
    b = await api.create_tenant(owner_b, "studio-b")
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(a["id"]))
        tenants_seen = await session.scalars(
            text("SELECT DISTINCT tenant_id FROM user_tenant_roles")
        )
        assert [str(t) for t in tenants_seen] == [a["id"]]
        # Writing a row for tenant B while in tenant A is refused by the policy.
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.execute(
                text(
                    "INSERT INTO user_tenant_roles (tenant_id, user_id, role) "
                    "VALUES (:t, :u, 'member')"
                ),
                {"t": b["id"], "u": owner_a["user"]["id"]},
            )
        await session.rollback()
        await enter_tenant_for_transaction(session, uuid.UUID(a["id"]))
        changed = await session.execute(
            text("UPDATE user_tenant_roles SET role = 'member' WHERE tenant_id = :t"),
            {"t": b["id"]},
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
        await session.rollback()


@pytest.fixture
async def two_studios(api: Api):
    owner_a, owner_b, member_b = await api.signup(), await api.signup(), await api.signup()
    a = await api.create_tenant(owner_a, "studio-a")
    b = await api.create_tenant(owner_b, "studio-b")
    await api.join(member_b, "studio-b")
    return {"owner_a": owner_a, "owner_b": owner_b, "member_b": member_b, "a": a, "b": b}


async def test_admin_of_a_cannot_reach_b_by_path_header_or_host(
    client, two_studios, settings
) -> None:
    headers = two_studios["owner_a"]["headers"]
    b = two_studios["b"]
    for response in (
        await client.get("/api/v1/tenants/studio-b/members", headers=headers),
        await client.get("/api/v1/members", headers={**headers, "X-Tenant-ID": b["id"]}),
        await client.get("/api/v1/members", headers={**headers, "X-Tenant-ID": "studio-b"}),
        await client.get(
            "/api/v1/members", headers={**headers, "Host": f"studio-b.{settings.base_domain}"}
        ),
        await client.patch("/api/v1/tenants/studio-b", headers=headers, json={"name": "Mine now"}),
    ):
        assert_error(response, 403, "INSUFFICIENT_ROLE")


async def test_guessing_ids_of_b_from_a_looks_like_nothing_exists(client, two_studios) -> None:
    headers = two_studios["owner_a"]["headers"]
    member_b_id = two_studios["member_b"]["user"]["id"]
    random_id = str(uuid.uuid4())
    seen = await client.get(f"/api/v1/tenants/studio-a/members/{member_b_id}", headers=headers)
    unseen = await client.get(f"/api/v1/tenants/studio-a/members/{random_id}", headers=headers)
    first = assert_error(seen, 404, "MEMBER_NOT_FOUND")
    second = assert_error(unseen, 404, "MEMBER_NOT_FOUND")
    assert first["message"] == second["message"] and first["details"] == second["details"]

    changed = await client.patch(
        f"/api/v1/members/{member_b_id}",
        headers={**headers, "X-Tenant-ID": "studio-a"},
        json={"role": "admin"},
    )
    assert_error(changed, 404, "MEMBER_NOT_FOUND")
    listing = await client.get(
        "/api/v1/tenants/studio-a/members",
        headers=headers,
        params={"q": two_studios["member_b"]["email"]},
    )
    assert listing.json()["items"] == []


async def test_b_rows_unchanged_after_attempts(client, two_studios, owner_db) -> None:
    before = owner_db.rows(
        "SELECT tenant_id, user_id, role, status FROM user_tenant_roles ORDER BY 1, 2"
    )
    headers = two_studios["owner_a"]["headers"]
    member_b_id = two_studios["member_b"]["user"]["id"]
    await client.patch(
        f"/api/v1/tenants/studio-b/members/{member_b_id}", headers=headers, json={"role": "owner"}
    )
    await client.patch(
        f"/api/v1/tenants/studio-a/members/{member_b_id}",
        headers=headers,
        json={"status": "inactive"},
    )
    after = owner_db.rows(
        "SELECT tenant_id, user_id, role, status FROM user_tenant_roles ORDER BY 1, 2"
    )
    assert before == after
