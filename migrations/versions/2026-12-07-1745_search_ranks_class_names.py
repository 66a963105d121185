"""`search_ranks_class_names`: a marketplace text search lists the classes whose name or
type matches before those found only by their studio's or place's name.

Someone typing "yoga" wants yoga classes first, not the spin class of a studio called
"Yoga Loft". With a text query, ordered by distance (the default near a point) or by
start (the default otherwise), the sort key now begins with the match's tier (class name
or type: 0, otherwise 1e6 km or 1e10 seconds on), so the keyset cursor (key, start, id)
pages exactly as before. Ordered by price, as the member asked, nothing changes.

The function is revision 0023's, read from that migration (which never changes), with
only its default sort key replaced.

Revision ID: 0030_search_ranks_class_names
Revises: 0029_terms_accepted
Create Date: 2026-12-07 17:45:00+00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0030_search_ranks_class_names"
down_revision: str | None = "0029_terms_accepted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIER = "(CASE WHEN $10 <% r.class_name OR $10 <% r.class_type THEN 0 ELSE {} END)"
OLD_DISTANCE = "        WHEN p_sort = 'distance' AND p_lat IS NOT NULL THEN 'r.distance_km'"
NEW_DISTANCE = (
    "        WHEN p_sort = 'distance' AND p_lat IS NOT NULL AND p_query IS NOT NULL THEN\n"
    f"            '{TIER.format('1e6')} + r.distance_km'\n" + OLD_DISTANCE
)
OLD_DEFAULT = "        ELSE 'extract(epoch FROM r.start_time)::double precision' END;"
NEW_DEFAULT = (
    "        WHEN p_query IS NOT NULL THEN\n"
    f"            '{TIER.format('1e10')} + extract(epoch FROM r.start_time)'\n" + OLD_DEFAULT
)


def _revision_0023() -> Any:
    path = Path(__file__).with_name("2026-11-28-0732_marketplace.py")
    spec = importlib.util.spec_from_file_location("revision_0023_marketplace", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replace(sql: str) -> str:
    return sql.replace(
        "CREATE FUNCTION marketplace_search(", "CREATE OR REPLACE FUNCTION marketplace_search(", 1
    )


def upgrade() -> None:
    original: str = _revision_0023().SEARCH_FUNCTION
    assert original.count(OLD_DEFAULT) == 1 and original.count(OLD_DISTANCE) == 1
    ranked = original.replace(OLD_DISTANCE, NEW_DISTANCE).replace(OLD_DEFAULT, NEW_DEFAULT)
    op.execute(_replace(ranked))


def downgrade() -> None:
    op.execute(_replace(_revision_0023().SEARCH_FUNCTION))
