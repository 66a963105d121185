"""Applying a PATCH body to a row."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def apply_changes(target: Any, values: Mapping[str, Any], *, nullable: Collection[str]) -> None:
    """Set each given field. An explicit null clears a field only where null means something
    (listed in `nullable`); elsewhere it leaves the field as it was."""
    for name, value in values.items():
        if value is None and name not in nullable:
            continue
        setattr(target, name, value)
