"""What every page with a form shares: running a service call so that a refusal undoes its
changes yet leaves the page renderable, field errors from validation, and a studio's look."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.errors import AppError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


async def attempt(
    session: AsyncSession, action: Callable[[], Awaitable[T]]
) -> tuple[T | None, AppError | None]:
    """Run a service call inside a savepoint. A refusal undoes what the call changed (a
    debit before CLASS_FULL, say) while the request's transaction, and its studio context,
    stay usable to render the form again. Refusals that must record a fact (a wrong
    verification code counts as an attempt) keep it."""
    savepoint = await session.begin_nested()
    try:
        result = await action()
    except AppError as error:
        if error.keep_changes:
            await savepoint.commit()
        else:
            await savepoint.rollback()
        return None, error
    await savepoint.commit()
    return result, None


# The schema's messages are written for API clients; a person at a form gets these.
PLAIN_WORDS = {
    "missing": "Fill this in.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "time_parsing": "Enter a time such as 06:30.",
    "date_from_datetime_parsing": "Enter a date.",
    "uuid_parsing": "Choose one from the list.",
    "enum": "Choose one from the list.",
    "literal_error": "Choose one from the list.",
    # A slug and the like: the field's hint says which characters (a regex says nothing).
    "string_pattern_mismatch": "This is not in the form it should take: see the hint under it.",
}


def _in_words(problem: Any) -> str:
    kind = problem.get("type", "")
    if problem.get("input") == "":  # an empty field: "not a valid email address" says less
        return "Fill this in."
    if kind == "string_too_short" and (problem.get("ctx") or {}).get("min_length") == 1:
        return "Fill this in."
    if kind in PLAIN_WORDS:
        return PLAIN_WORDS[kind]
    message = str(problem["msg"]).removeprefix("Value error, ").rstrip(".")
    return message[:1].upper() + message[1:] + "."


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate form fields with the API's own schema; errors keyed by field, in words."""
    try:
        # Form fields arrive as text: the API's strict numbers and flags are relaxed here only.
        return model.model_validate(data, strict=False), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            errors.setdefault(field, _in_words(problem))
        return None, errors


def readable_on(colour: str) -> str:
    """White or near-black text, whichever reads better on `colour` (WCAG relative
    luminance): a studio that picks yellow still gets legible buttons."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with white is (1.05)/(L+0.05); with #111827 (L≈0.0118) it is (L+0.05)/0.0618.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.0618 else "#111827"


def brand_colour(settings: dict[str, Any]) -> str | None:
    """A studio's colour (tenant setting `brand_color`, `#rrggbb`), if it set a valid one."""
    colour = settings.get("brand_color")
    return colour if isinstance(colour, str) and _HEX_COLOUR.match(colour) else None
