"""Migrations are reversible and match the models (`alembic check` is clean)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from studioloop.db import migrate
from studioloop.db.urls import libpq_conninfo

MIGRATION_NAME = r"^\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py$"


# Migrating grants the cluster-wide application role (to the owner, too), as does
# test_definer_functions.py; and both tests here use one scratch database. Under
# pytest-xdist they all run on one worker, one at a time (two GRANTs of one role at once
# can fail: "tuple concurrently updated").
pytestmark = pytest.mark.xdist_group("cluster-roles")


@pytest.fixture
def scratch_url(owner_url: str) -> Iterator[str]:
    """An empty database on the same server, dropped afterwards."""
    server = libpq_conninfo(make_url(owner_url).set(database="postgres").render_as_string(False))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "studioloop_migrations"')
        conn.execute('CREATE DATABASE "studioloop_migrations"')
    yield make_url(owner_url).set(database="studioloop_migrations").render_as_string(False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "studioloop_migrations" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_upgrade_check_downgrade_upgrade(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.check(config)  # raises if the models and the schema disagree
    assert {"tenants", "users", "user_tenant_roles", "procrastinate_jobs"} <= _tables(scratch_url)

    command.downgrade(config, "base")
    assert _tables(scratch_url) <= {"alembic_version"}

    command.upgrade(config, "head")
    command.check(config)


def test_migration_files_are_named_by_date() -> None:
    import re

    versions = Path(migrate.MIGRATIONS_DIR) / "versions"
    names = [p.name for p in versions.glob("*.py")]
    assert names
    assert [n for n in names if not re.match(MIGRATION_NAME, n)] == []


def _primary_key(url: str, table: str) -> str:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'p'",
            (table,),
        ).fetchone()
        assert row is not None
        return str(row[0])


def test_tenant_keys_migrate_down_and_up_with_rows_in_place(scratch_url: str) -> None:
    """0026 rebuilds primary and foreign keys of tables that hold rows: both ways."""
    from alembic.script import ScriptDirectory

    from tests.db.test_citus_ready import make_location

    config = migrate.alembic_config(scratch_url)
    before = ScriptDirectory.from_config(config).get_revision("0026_citus_tenant_keys")
    assert before is not None and isinstance(before.down_revision, str)
    command.upgrade(config, "head")
    with psycopg.connect(libpq_conninfo(scratch_url), autocommit=True) as conn:
        tenant_id, location_id = make_location(conn, "loop-yoga")
        conn.execute(
            "INSERT INTO rooms (tenant_id, location_id, name, capacity) VALUES (%s, %s, 'A', 9)",
            (tenant_id, location_id),
        )

    command.downgrade(config, before.down_revision)
    assert _primary_key(scratch_url, "rooms") == "PRIMARY KEY (id)"
    command.upgrade(config, "head")
    assert _primary_key(scratch_url, "rooms") == "PRIMARY KEY (id, tenant_id)"
    assert _primary_key(scratch_url, "chat_read_markers") == (
        "PRIMARY KEY (tenant_id, room_id, reader)"
    )
    command.check(config)
    with psycopg.connect(libpq_conninfo(scratch_url)) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))
        rows = conn.execute("SELECT count(*) FROM rooms WHERE location_id = %s", (location_id,))
        assert rows.fetchone() == (1,)
