"""The erasure's sweep is complete: every column that points at a user or whose name
suggests personal data is either erased (privacy/coverage.py ERASED) or kept for a stated
reason (KEPT). A new one fails here until someone decides which."""

from __future__ import annotations

import re

from sqlalchemy import Column

from studioloop.models import Base
from studioloop.privacy.coverage import ERASED, KEPT, STUDIO_TABLES

# Names that suggest a person's data: contact details, names, free text, network traces,
# secrets that act for them, files and rendered messages.
PERSONAL = re.compile(
    r"email|phone|(^|_)name$|first_name|last_name|address|(^|_)ip($|_)|user_agent|body"
    r"|note|token|reason|subject|(^|_)bio$|photo|image|recipient|endpoint|p256dh|^auth$"
    r"|payload|detail|qr_code|preferences|password|code_hash|attachment|filename|^content$"
    r"|_ref$|reference|reader|^before$|^after$|description|last_error"
)


def _points_at_a_user(column: Column[object]) -> bool:
    named = column.name == "user_id" or column.name.endswith(("_user_id", "instructor_id"))
    return named or any(fk.target_fullname == "users.id" for fk in column.foreign_keys)


def _columns() -> tuple[set[str], set[str]]:
    user_columns, personal = set(), set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            if _points_at_a_user(column):
                user_columns.add(name)
            elif PERSONAL.search(column.name) and table.name not in STUDIO_TABLES:
                personal.add(name)
    return user_columns, personal


def test_every_user_column_is_erased_or_kept_for_a_reason() -> None:
    user_columns, _ = _columns()
    undecided = sorted(c for c in user_columns if c not in ERASED and c not in KEPT)
    assert undecided == [], "decide in privacy/coverage.py: erase, or keep and say why"


def test_every_personal_looking_column_is_erased_or_kept_for_a_reason() -> None:
    _, personal = _columns()
    undecided = sorted(c for c in personal if c not in ERASED and c not in KEPT)
    assert undecided == [], "decide in privacy/coverage.py: erase, or keep and say why"


def test_the_lists_name_real_columns_and_decide_once() -> None:
    real = {f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns}
    assert sorted(set(ERASED) - real) == []
    assert sorted(set(KEPT) - real) == []
    assert sorted(set(ERASED) & set(KEPT)) == []
    assert all(reason.strip() for reason in (*ERASED.values(), *KEPT.values()))
    assert set(STUDIO_TABLES) <= set(Base.metadata.tables)
