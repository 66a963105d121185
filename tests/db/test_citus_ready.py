"""The schema stays ready to be distributed by tenant with Citus (docs/deploy.md, "Citus").

Citus shards a distributed table by one column, here `tenant_id`, and can only enforce a
primary key, a unique constraint or index, or an exclusion constraint that includes it; a
foreign key between two distributed tables must include it on both sides (so the two rows
live on the same shard), and a reference table (copied to every node) may not point at a
distributed one. These tests read the live schema of the test database and list every
departure; the ones we accept are below, each with its reason, and the same list is in
docs/deploy.md. A departure not listed fails, and so does a listed one that is gone (keep
the list true).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import Owner

# Problem key -> why it is accepted. Keys: "pk:<table>", "unique:<table>:<index>",
# "exclusion:<table>:<constraint>", "fk:<table>:<constraint>", "nullable:<table>",
# "reference_fk:<table>:<constraint>". docs/deploy.md says how each runs under Citus.
KEPT: dict[str, str] = {
    "nullable:notifications": (
        "platform messages (sign-up codes, password resets) belong to no studio"
    ),
    "pk:notifications": (
        "tenant_id is NULL for platform messages, so it cannot be in the primary key"
    ),
    "unique:notifications:uq_notifications_dedup_key": (
        "a message's dedup key is checked across platform and studio messages alike"
    ),
    "fk:notifications:fk_notifications_fallback_from_id_notifications": (
        "a platform message's fallback has no tenant_id to pair"
    ),
    "reference_fk:email_attachments:fk_email_attachments_email_id_notifications": (
        "attachments follow their message, which may be a platform message"
    ),
    "unique:user_tenant_roles:uq_user_tenant_roles_invitation_token_hash": (
        "accepting an invitation finds it by its token alone, before any studio is known"
    ),
}

# Departures to be removed by a later migration (docs/deploy.md gives the count). Empty:
# 0026_citus_tenant_keys and 0027_citus_unique_keys converted them all.
NOT_YET_CONVERTED: set[str] = set()

EXCEPTIONS: dict[str, str] = {
    **KEPT,
    **{key: "not yet converted (docs/deploy.md, Citus)" for key in NOT_YET_CONVERTED},
}

TENANT_TABLES = """
SELECT c.oid::regclass::text
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY 1
"""

PRIMARY_KEYS = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_constraint k
               WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)),
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'),
       a.attnotnull
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
"""

# Unique constraints are backed by unique indexes, so the indexes cover both (partial and
# expression indexes included).
UNIQUE_INDEXES_WITHOUT_TENANT = """
SELECT t.relname, i.relname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'tenant_id'
WHERE t.relnamespace = 'public'::regnamespace AND x.indisunique
  AND NOT (a.attnum = ANY (x.indkey::int2[]))
  AND NOT x.indisprimary
"""

EXCLUSIONS_WITHOUT_TENANT = """
SELECT t.relname, k.conname
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'tenant_id'
WHERE t.relnamespace = 'public'::regnamespace AND k.contype = 'x'
  AND NOT (a.attnum = ANY (k.conkey))
"""

# Foreign keys whose both ends have a tenant_id: the tenant_id columns must be paired with
# each other (same position in conkey and confkey).
FOREIGN_KEYS = """
SELECT t.relname, k.conname, r.relname,
       EXISTS (
         SELECT 1 FROM unnest(k.conkey, k.confkey) AS p(local, remote)
         WHERE p.local = ta.attnum AND p.remote = ra.attnum
       )
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_attribute ta ON ta.attrelid = t.oid AND ta.attname = 'tenant_id'
JOIN pg_attribute ra ON ra.attrelid = r.oid AND ra.attname = 'tenant_id'
WHERE t.relnamespace = 'public'::regnamespace AND k.contype = 'f'
"""

# A table without tenant_id (a reference table under Citus) pointing at a tenant table.
REFERENCE_TO_TENANT = """
SELECT t.relname, k.conname
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attname = 'tenant_id'
WHERE t.relnamespace = 'public'::regnamespace AND k.contype = 'f'
  AND NOT EXISTS (SELECT 1 FROM pg_attribute ta
                  WHERE ta.attrelid = t.oid AND ta.attname = 'tenant_id')
"""


def citus_problems(owner_db: Owner) -> dict[str, str]:
    """Every departure from what Citus needs, as key -> description."""
    problems: dict[str, str] = {}
    for table, pk_has_tenant, has_pk, not_null in owner_db.rows(PRIMARY_KEYS):
        if not has_pk:
            problems[f"pk:{table}"] = f"{table} has no primary key"
        elif not pk_has_tenant:
            problems[f"pk:{table}"] = f"{table}'s primary key lacks tenant_id"
        if not not_null:
            problems[f"nullable:{table}"] = f"{table}.tenant_id is nullable"
    for table, index in owner_db.rows(UNIQUE_INDEXES_WITHOUT_TENANT):
        problems[f"unique:{table}:{index}"] = f"unique index {index} on {table} lacks tenant_id"
    for table, constraint in owner_db.rows(EXCLUSIONS_WITHOUT_TENANT):
        problems[f"exclusion:{table}:{constraint}"] = f"{constraint} on {table} lacks tenant_id"
    for table, constraint, referred, paired in owner_db.rows(FOREIGN_KEYS):
        if not paired:
            problems[f"fk:{table}:{constraint}"] = (
                f"{constraint}: {table} -> {referred} does not pair tenant_id with tenant_id"
            )
    for table, constraint in owner_db.rows(REFERENCE_TO_TENANT):
        problems[f"reference_fk:{table}:{constraint}"] = (
            f"{constraint}: {table} has no tenant_id but points at a tenant table"
        )
    return problems


def test_tenant_tables_are_found(owner_db: Owner) -> None:
    tables = {row[0] for row in owner_db.rows(TENANT_TABLES)}
    assert {"bookings", "class_schedules", "user_tenant_roles"} <= tables


def test_schema_is_ready_to_distribute_by_tenant(owner_db: Owner) -> None:
    problems = citus_problems(owner_db)
    unexplained = {key: text for key, text in problems.items() if key not in EXCEPTIONS}
    assert unexplained == {}, "\n".join(sorted(unexplained.values()))


def test_every_listed_exception_still_exists(owner_db: Owner) -> None:
    """An exception that was fixed must leave the list, or the list stops being true."""
    problems = citus_problems(owner_db)
    assert sorted(set(EXCEPTIONS) - set(problems)) == []


def test_every_exception_has_a_reason() -> None:
    assert [key for key, reason in EXCEPTIONS.items() if len(reason.strip()) < 20] == []


# --- what the tenant keys add: a row cannot point at another studio's row ------------------

STUDIO = "INSERT INTO tenants (name, slug, email) VALUES (%s, %s, 'hi@example.com') RETURNING id"


def _as_tenant(conn: psycopg.Connection[Any], tenant_id: Any) -> None:
    # Row-level security is forced for the owner too: act inside the studio's context.
    conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))


def make_location(conn: psycopg.Connection[Any], slug: str) -> tuple[Any, Any]:
    """A new studio and one location of it: (tenant id, location id)."""
    tenant_id = conn.execute(STUDIO, (slug.title(), slug)).fetchone()[0]  # type: ignore[index]
    _as_tenant(conn, tenant_id)
    location_id = conn.execute(
        "INSERT INTO locations (tenant_id, name) VALUES (%s, 'Main') RETURNING id", (tenant_id,)
    ).fetchone()[0]  # type: ignore[index]
    return tenant_id, location_id


def test_a_row_cannot_point_at_another_studios_row(owner_conninfo: str) -> None:
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        _, their_location = make_location(conn, "loop-yoga")
        ours, _ = make_location(conn, "jozi-hiit")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO rooms (tenant_id, location_id, name, capacity) "
                "VALUES (%s, %s, 'Studio 1', 10)",
                (ours, their_location),
            )


def test_set_null_clears_the_reference_and_keeps_the_tenant(owner_conninfo: str) -> None:
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        tenant_id, location_id = make_location(conn, "loop-yoga")
        class_id = conn.execute(
            "INSERT INTO classes (tenant_id, name, class_type, duration_minutes, max_capacity, "
            "location_id) VALUES (%s, 'Vinyasa', 'yoga', 60, 12, %s) RETURNING id",
            (tenant_id, location_id),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("DELETE FROM locations WHERE id = %s", (location_id,))
        row = conn.execute(
            "SELECT tenant_id, location_id FROM classes WHERE id = %s", (class_id,)
        ).fetchone()
        assert row == (tenant_id, None)
