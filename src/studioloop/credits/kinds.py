"""The kinds of credit ledger entry and which way each moves credits.

Apart from the writer (ledger.py) so that the table (models.py, whose CHECK constraint
lists the kinds) and the writer read one definition without importing each other. Adding a
kind is described in docs/architecture.md ("Adding a kind of entry").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    PURCHASE = "purchase"  # bought, or granted by a membership: counts in total_purchased
    USAGE = "usage"  # spent on a booking
    REFUND = "refund"  # a booking's credits put back into the lots they came from
    TRANSFER = "transfer"  # between accounts (a lot in, a debit out); no feature moves any yet
    EXPIRY = "expiry"  # a lot's remainder, lapsed
    ADJUSTMENT = "adjustment"  # staff's correction, or credits revoked with a refund


IN: Final = 1
OUT: Final = -1
EITHER: Final = 0

# The sign an entry's amount must have. A usage that adds credits or a refund that takes
# them would still sum correctly, so only this rule makes such a bug visible.
DIRECTION: Final[dict[Kind, int]] = {
    Kind.PURCHASE: IN,
    Kind.USAGE: OUT,
    Kind.REFUND: IN,
    Kind.TRANSFER: EITHER,
    Kind.EXPIRY: OUT,
    Kind.ADJUSTMENT: EITHER,
}
