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


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate form fields with the API's own schema; errors keyed by field, in words."""
    try:
        return model.model_validate(data), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            message = str(problem["msg"]).removeprefix("Value error, ")
            errors.setdefault(field, message[:1].upper() + message[1:] + ".")
        return None, errors


def brand_colour(settings: dict[str, Any]) -> str | None:
    """A studio's colour (tenant setting `brand_color`, `#rrggbb`), if it set a valid one."""
    colour = settings.get("brand_color")
    return colour if isinstance(colour, str) and _HEX_COLOUR.match(colour) else None
