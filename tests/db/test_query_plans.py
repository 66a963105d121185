"""The booking path's statements read rows by key, whatever the size of the tables.

A plan that scans a whole table is fast on a test database and slow on a busy one, so
these tests fill the table first and look at the plan PostgreSQL would reuse for the
prepared statement (its generic plan).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from studioloop.credits import repository as credits_repository

LOTS = 3000


def _relation_scans(plan: dict[str, Any], relation: str) -> Iterator[str]:
    if plan.get("Relation Name") == relation:
        yield plan["Node Type"]
    for child in plan.get("Plans", []):
        yield from _relation_scans(child, relation)


def _numbered(statement: str) -> str:
    """psycopg's %s placeholders as PREPARE's $1, $2, ..."""
    counter = iter(range(1, 100))
    return re.sub(r"%s", lambda _: f"${next(counter)}", statement)


@pytest.fixture
def many_lots(owner_conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """An owner's connection in a transaction where a studio has LOTS members with a lot
    each (rolled back afterwards)."""
    with psycopg.connect(owner_conninfo) as conn:
        conn.execute(
            "INSERT INTO tenants (name, slug, email) VALUES ('Plans', 'plans-studio', 'p@x.com')"
        )
        conn.execute(
            "INSERT INTO users (email, first_name, last_name) "
            "SELECT 'plan' || i || '@example.com', 'A', 'B' FROM generate_series(1, %s) i",
            (LOTS,),
        )
        conn.execute(
            "INSERT INTO credit_accounts (tenant_id, user_id, balance) "
            "SELECT t.id, u.id, 10 FROM tenants t, users u "
            "WHERE t.slug = 'plans-studio' AND u.email LIKE 'plan%%@example.com'"
        )
        conn.execute(
            "INSERT INTO credit_lots (tenant_id, account_id, source, original, remaining) "
            "SELECT tenant_id, id, 'purchase', 10, 10 FROM credit_accounts"
        )
        conn.execute("ANALYZE credit_lots")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        yield conn
        conn.rollback()


def _debit_plan_scans(
    conn: psycopg.Connection[Any], statement: str, with_lot_ids: bool
) -> list[str]:
    lot_id, account_id, tenant_id, user_id = conn.execute(
        "SELECT l.id, a.id, a.tenant_id, a.user_id FROM credit_lots l "
        "JOIN credit_accounts a ON a.id = l.account_id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    entries = json.dumps(
        [{"type": "usage", "amount": 1, "balance_after": 9, "lot_id": str(lot_id)}]
    )
    params: list[Any] = [entries]
    if with_lot_ids:
        params.append([lot_id])
    params += [9, account_id, tenant_id, account_id, user_id, None]
    name = f"debit_{uuid.uuid4().hex}"
    types = ["jsonb", *(["uuid[]"] if with_lot_ids else []), "int", "uuid", "uuid", "uuid"]
    types += ["uuid", "uuid"]
    conn.execute(f"PREPARE {name} ({', '.join(types)}) AS {_numbered(statement)}")  # type: ignore[arg-type]
    # EXECUTE takes no bound parameters: the values go in as literals.
    explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE {} ({})").format(
        sql.Identifier(name), sql.SQL(", ").join(sql.Literal(p) for p in params)
    )
    (plan,) = conn.execute(explain).fetchone()  # type: ignore[misc]
    return list(_relation_scans(plan[0]["Plan"], "credit_lots"))


def test_without_the_key_list_a_debit_scans_every_lot(many_lots: psycopg.Connection[Any]) -> None:
    """The JSON alone: the planner guesses 100 entries and reads the whole table."""
    unguided = credits_repository.DEBIT_WRITE.replace(" AND l.id = ANY (%s::uuid[])", "")
    assert unguided != credits_repository.DEBIT_WRITE
    assert "Seq Scan" in _debit_plan_scans(many_lots, unguided, with_lot_ids=False)


def test_a_debit_reads_only_its_lots(many_lots: psycopg.Connection[Any]) -> None:
    scans = _debit_plan_scans(many_lots, credits_repository.DEBIT_WRITE, with_lot_ids=True)
    assert scans and "Seq Scan" not in scans, scans
