"""The scopes an API key may be given: the one list, with what each allows.

An endpoint asks for one of these by name (`require_scope("bookings:read")`); a scope
not listed here cannot be granted, so add it here with the endpoint that checks it.
"""

from __future__ import annotations

USAGE_WRITE = "usage:write"
USAGE_READ = "usage:read"
BOOKINGS_READ = "bookings:read"
MEMBERS_READ = "members:read"

SCOPES: dict[str, str] = {
    USAGE_WRITE: "Report usage events",
    USAGE_READ: "Read usage and limits",
    BOOKINGS_READ: "Read the bookings of a class",
    MEMBERS_READ: "Read members, staff and invitations",
}
