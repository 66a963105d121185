"""SQL functions kept as `.sql` files in their domain, next to the Python that reads them.

A domain's function is written once, as a template whose `{{NAME}}` placeholders are lists
of values defined in Python (the booking statuses that take a seat, say), so SQL and Python
share one definition. Migrations never read the live template: each loads the rendered
copy frozen beside it in `migrations/sql/` when it was written, so an old migration keeps
creating what it created. `tests/booking/test_attempt_sql.py` fails when a template renders
to anything but its newest frozen copy: changing a function means adding a migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def sql_list(values: Iterable[str]) -> str:
    """`'a', 'b'`: a list of string literals for an `IN (...)`."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def render(relative_path: str, lists: Mapping[str, Iterable[str]]) -> str:
    """The template at `relative_path` (inside the studioloop package) with each
    `{{NAME}}` replaced by `lists[NAME]` as SQL literals; every placeholder must be given."""
    template = (PACKAGE_ROOT / relative_path).read_text()

    def fill(match: re.Match[str]) -> str:
        return sql_list(lists[match.group(1)])

    return PLACEHOLDER.sub(fill, template)
