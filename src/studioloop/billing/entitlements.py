"""What a member's subscription entitles them to, defined for the booking decision.

The definition is the SQL function `member_entitlement` (billing/entitlement.sql), read by
booking inside its one statement per attempt (booking/attempt.sql): billing says what a
membership covers, booking asks it without knowing plans.
"""

from __future__ import annotations

from studioloop.billing.models import ENTITLED_STATUSES
from studioloop.db import sql_files


def entitlement_function_sql() -> str:
    """`member_entitlement` as migrations create it (entitlement.sql, rendered)."""
    return sql_files.render("billing/entitlement.sql", {"ENTITLED_STATUSES": ENTITLED_STATUSES})
