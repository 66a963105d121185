"""The SECURITY DEFINER functions (marketplace search, the operator's totals, the API key
lookup) see every studio even when the schema owner is an ordinary role, as on a managed
PostgreSQL (not a superuser, no BYPASSRLS); the application's role still sees none of it
directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from studioloop.config import get_settings
from studioloop.db import migrate
from studioloop.db.urls import libpq_conninfo

# It creates and drops a role, and migrates (granting the cluster-wide application role):
# under pytest-xdist, on one worker with tests/db/test_migrations.py, one at a time.
pytestmark = pytest.mark.xdist_group("cluster-roles")

OWNER_ROLE = "studioloop_plain_owner"
DATABASE = "studioloop_plain_owner"
SEARCH = (
    "SELECT count(*) FROM marketplace_search(-33.9, 18.4, 10, -34, -33.8, 18.3, 18.5, NULL, "
    "NULL, NULL, now(), now() + interval '14 days', false, NULL, 'distance', NULL, NULL, 20, "
    "5000, 1500, NULL)"
)


@pytest.fixture
def plain_owner_url(owner_url: str) -> Iterator[str]:
    """A database owned, and migrated, by a role that is neither superuser nor BYPASSRLS."""
    server = libpq_conninfo(make_url(owner_url).set(database="postgres").render_as_string(False))
    app_role = get_settings().database_app_role
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{OWNER_ROLE}"')
        conn.execute(f'CREATE ROLE "{OWNER_ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS')
        # What an administrator does once: let the owner hand the application role out.
        conn.execute(f'GRANT "{app_role}" TO "{OWNER_ROLE}" WITH ADMIN OPTION')
        conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{OWNER_ROLE}"')
    url = make_url(owner_url).set(database=DATABASE, username=OWNER_ROLE, password=None)
    yield url.render_as_string(False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{OWNER_ROLE}"')


def test_definer_functions_read_across_studios_with_a_plain_owner(
    plain_owner_url: str, owner_url: str
) -> None:
    command.upgrade(migrate.alembic_config(plain_owner_url), "head")
    superuser = libpq_conninfo(make_url(owner_url).set(database=DATABASE).render_as_string(False))
    with psycopg.connect(superuser) as conn:  # one listed class, as the studio would add it
        conn.execute(
            "INSERT INTO tenants (id, name, slug, email) VALUES "
            "('11111111-1111-1111-1111-111111111111', 'Plain', 'plain', 'a@example.com');"
            "INSERT INTO locations (id, tenant_id, name, latitude, longitude) VALUES "
            "('22222222-2222-2222-2222-222222222222', '11111111-1111-1111-1111-111111111111',"
            " 'Main', -33.9, 18.4);"
            "INSERT INTO classes (id, tenant_id, name, class_type, duration_minutes,"
            " max_capacity) VALUES ('33333333-3333-3333-3333-333333333333',"
            " '11111111-1111-1111-1111-111111111111', 'Yoga', 'yoga', 60, 10);"
            "INSERT INTO class_schedules (tenant_id, class_id, location_id, start_time,"
            " end_time, capacity) VALUES ('11111111-1111-1111-1111-111111111111',"
            " '33333333-3333-3333-3333-333333333333', '22222222-2222-2222-2222-222222222222',"
            " now() + interval '1 day', now() + interval '25 hours', 10);"
            "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, scopes) VALUES"
            " ('11111111-1111-1111-1111-111111111111', 'Server', 'abcd1234',"
            " sha256('sl_live_abcd1234_x'), '{members:read}')"
        )
    app_role = get_settings().database_app_role
    with psycopg.connect(libpq_conninfo(plain_owner_url)) as conn:
        conn.execute(f'SET ROLE "{app_role}"')  # as every request runs
        assert conn.execute(SEARCH).fetchone() == (1,)
        assert conn.execute(
            "SELECT count(*) FROM platform_tenant_stats(now() - interval '1 day')"
        ).fetchone() == (1,)
        # An API key is found by its prefix before any studio is in context.
        assert conn.execute(
            "SELECT tenant_id::text, tenant_status FROM api_key_by_prefix('abcd1234')"
        ).fetchone() == ("11111111-1111-1111-1111-111111111111", "active")
        # Row-level security still holds for the application itself.
        assert conn.execute("SELECT count(*) FROM class_schedules").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM classes").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)


def test_erasure_functions_reach_every_studio_with_a_plain_owner(
    plain_owner_url: str, owner_url: str
) -> None:
    command.upgrade(migrate.alembic_config(plain_owner_url), "head")
    superuser = libpq_conninfo(make_url(owner_url).set(database=DATABASE).render_as_string(False))
    with psycopg.connect(superuser) as conn:  # a guest who wrote from the person's email
        conn.execute(
            "INSERT INTO tenants (id, name, slug, email) VALUES "
            "('11111111-1111-1111-1111-111111111111', 'Plain', 'plain', 'a@example.com');"
            "INSERT INTO chat_guests (id, tenant_id, name, email) VALUES "
            "('44444444-4444-4444-4444-444444444444', '11111111-1111-1111-1111-111111111111',"
            " 'Ayanda', 'ayanda@example.com')"
        )
    app_role = get_settings().database_app_role
    nobody = "00000000-0000-0000-0000-000000000009"
    with psycopg.connect(libpq_conninfo(plain_owner_url)) as conn:
        conn.execute(f'SET ROLE "{app_role}"')
        assert conn.execute(
            "SELECT erasure_tenants(%s, 'ayanda@example.com')", (nobody,)
        ).fetchall() == [(uuid.UUID("11111111-1111-1111-1111-111111111111"),)]
        assert conn.execute(
            "SELECT * FROM erase_user_history(%s, 'ayanda@example.com', 'Erased member', '-')",
            (nobody,),
        ).fetchone() == (0, 1, 0)
        assert conn.execute("SELECT count(*) FROM chat_guests").fetchone() == (0,)
    with psycopg.connect(superuser) as conn:
        assert conn.execute("SELECT name FROM chat_guests").fetchone() == ("Erased member",)
