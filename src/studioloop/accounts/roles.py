"""Per-tenant roles, strongest first: owner > admin > instructor > member."""

from __future__ import annotations

from typing import Literal

Role = Literal["owner", "admin", "instructor", "member"]

RANK: dict[str, int] = {"member": 0, "instructor": 1, "admin": 2, "owner": 3}


def at_least(role: str, minimum: str) -> bool:
    return RANK[role] >= RANK[minimum]
