"""What request bodies share."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema


def omittable(**constraints: Any) -> Any:
    """A PATCH field that may be left out (the value then stays as it is) but is never null.

    Its schema does not admit null, so an explicit null is refused with 422 like any other
    wrong type; fields that null clears are declared `T | None` instead. Typed `Any` so the
    field keeps its own annotation (`Field(default=None)` would claim the type is None)."""
    return Field(default=None, **constraints)


# A wall-clock time in a studio's own time zone, with no UTC offset: "06:30" or "06:30:00".
# Pydantic documents `time` as JSON Schema's "time" format, which requires an offset, so
# clients validating our answers against the document refused "06:30:00".
LocalTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
            "description": "A local time of day, HH:MM or HH:MM:SS, without a UTC offset",
            "examples": ["06:30"],
        }
    ),
]
