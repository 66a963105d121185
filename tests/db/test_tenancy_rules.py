"""Row-level security settings are changed only in src/studioloop/db/ (tenancy.py), where
every change either lasts the whole transaction or is undone by `tenancy.scope`. Ruff's
banned-api rule (pyproject.toml) catches the Python setters; SQL text it cannot read, so
this test looks for `set_config(` in the package's own files."""

from __future__ import annotations

from pathlib import Path

import studioloop

PACKAGE = Path(studioloop.__file__).parent
ALLOWED_DIR = PACKAGE / "db"
# Files outside db/ that may call set_config, and why.
ALLOWED = {
    # The booking decision's database function enters the occurrence's studio (and the
    # member) inside its one statement, and restores the caller when asked to; migrations
    # ship a frozen copy of it (tests/booking/test_attempt_sql.py).
    "booking/attempt.sql": "the booking hot path's own statement",
}


def test_no_set_config_outside_the_db_package() -> None:
    found = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*")
        if path.suffix in (".py", ".sql")
        and ALLOWED_DIR not in path.parents
        and "set_config(" in path.read_text(encoding="utf-8").lower()
    )
    unexpected = [name for name in found if name not in ALLOWED]
    assert unexpected == [], (
        f"set_config( in {', '.join(unexpected)}: use studioloop.db.tenancy "
        "(enter_tenant_for_transaction, or async with tenancy.scope) instead"
    )


def test_every_allowed_file_still_needs_it() -> None:
    for name in ALLOWED:
        assert "set_config(" in (PACKAGE / name).read_text(encoding="utf-8").lower(), name
