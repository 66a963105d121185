"""The SQL functions kept in the domains are the ones the newest migration creates.

booking/attempt.sql and billing/entitlement.sql are templates rendered from Python's
definitions (the statuses); migrations load frozen rendered copies (migrations/sql/). A
change to either side without a new migration fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studioloop.billing.entitlements import entitlement_function_sql
from studioloop.booking.repository import attempt_function_sql
from studioloop.db import sql_files

FROZEN = Path(__file__).resolve().parents[2] / "migrations" / "sql"


def _newest_copy(name: str) -> str:
    copies = sorted(FROZEN.glob(f"*_{name}.sql"))
    assert copies, f"no migration creates {name}"
    return copies[-1].read_text()


@pytest.mark.parametrize(
    ("name", "rendered"),
    [("booking_attempt", attempt_function_sql), ("member_entitlement", entitlement_function_sql)],
)
def test_the_domain_sql_is_what_the_newest_migration_creates(name: str, rendered) -> None:
    assert rendered() == _newest_copy(name), (
        f"{name} changed: render it into a new migrations/sql copy with a new migration"
    )


def test_every_placeholder_is_filled() -> None:
    assert not sql_files.PLACEHOLDER.search(attempt_function_sql())
    with pytest.raises(KeyError):
        sql_files.render("booking/attempt.sql", {"ACTIVE_STATUSES": ("confirmed",)})


def test_values_are_quoted_as_literals() -> None:
    assert sql_files.sql_list(["a", "it's"]) == "'a', 'it''s'"
