"""`booking_core`: one read for every way to take a seat, its SQL kept in its domain.

`booking_attempt` (revision 0024) served direct bookings and the rush gate; the
marketplace, the payment of a lapsed seat hold and waitlist promotion each read the same
facts and member state again by their own statements. Its successor returns everything
the booking decision (booking/eligibility.py) asks: the occurrence's facts (now the
function `occurrence_facts`, which everything else that needs them reads too), the
marketplace's share of the seats, the member's state, the studio's fairness-cap counts
and the membership's entitlement (billing's function `member_entitlement`). With
`p_keep_caller` it can be read for another member inside someone else's transaction.

The functions' SQL lives in the domains (booking/attempt.sql, billing/entitlement.sql);
this migration loads the copies rendered when it was written (migrations/sql/0028_*.sql),
so it keeps creating what it created whatever the domains' files become.

Revision ID: 0028_booking_core
Revises: 0027_citus_unique_keys
Create Date: 2026-12-07 06:00:00+00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0028_booking_core"
down_revision: str | None = "0027_citus_unique_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute("DROP FUNCTION booking_attempt(uuid, uuid, boolean)")
    op.execute((SQL / "0028_member_entitlement.sql").read_text())
    op.execute((SQL / "0028_booking_attempt.sql").read_text())


def _first_booking_attempt() -> str:
    """Revision 0024's function, from that migration itself."""
    path = Path(__file__).with_name("2026-11-28-1040_booking_attempt.py")
    spec = importlib.util.spec_from_file_location("revision_0024_booking_attempt", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module.BOOKING_ATTEMPT
    return sql


def downgrade() -> None:
    op.execute("DROP FUNCTION booking_attempt(uuid, uuid, boolean, boolean)")
    op.execute("DROP FUNCTION occurrence_facts(uuid)")
    op.execute("DROP FUNCTION member_entitlement(uuid, uuid)")
    op.execute(_first_booking_attempt())
