"""Shared OpenAPI descriptions of the error envelope, so every endpoint lists its errors."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

# Every router spells its full path from this prefix (rather than being mounted under it),
# so `route.path` is the real template that metrics and logs report.
API_PREFIX = "/api/v1"


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None
    details: dict[str, Any] | list[Any]


class ErrorEnvelope(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Bad request (for example a wrong or expired code)",
    401: "Not signed in, or the token is invalid or expired",
    402: "Payment or credits required",
    403: "Signed in, but not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "VALIDATION_ERROR: the fields named in details are invalid",
    429: "RATE_LIMITED: retry after the Retry-After header's seconds",
    502: "PROVIDER_UNAVAILABLE: the payment provider could not be reached; try again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}


_PATH_TEMPLATE_NAMES = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?}")

# Path parameters read by dependencies rather than by the endpoint's own signature: the
# studio's `{slug}` is read from `request.path_params` by the tenant dependency, because the
# same dependency also serves routes that find the studio by header or host. FastAPI only
# documents parameters it sees in a signature, so these are declared here.
_DEPENDENCY_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "slug": {
        "description": "The studio's slug, as in /api/v1/tenants/{slug}",
        "schema": {"type": "string", "minLength": 1, "maxLength": 63},
    },
}


def declare_path_parameters(schema: dict[str, Any]) -> None:
    """Every `{name}` of every path template is declared on each of its operations, so the
    document validates and clients can be generated from it."""
    for path, operations in schema.get("paths", {}).items():
        names = _PATH_TEMPLATE_NAMES.findall(path)
        for operation in operations.values():
            parameters = operation.setdefault("parameters", [])
            declared = {p.get("name") for p in parameters if p.get("in") == "path"}
            for name in names:
                if name in declared:
                    continue
                known = _DEPENDENCY_PATH_PARAMETERS.get(name, {"schema": {"type": "string"}})
                parameters.insert(0, {"name": name, "in": "path", "required": True, **known})


def name_operations(schema: dict[str, Any]) -> None:
    """Operation ids are the endpoint functions' names (`create_booking`), which generated
    clients turn into method names, instead of FastAPI's name-plus-path
    (`create_booking_api_v1_tenants__slug__bookings_post`). Endpoints served both under a
    studio's path and on their own keep the plain name for the latter and `_in_studio` for
    the former; any other clash keeps FastAPI's unique id."""
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            generated = str(operation.get("operationId", ""))
            suffix = re.sub(r"\W", "_", path) + f"_{method}"
            name = generated.removesuffix(suffix) if generated.endswith(suffix) else generated
            name = name.lstrip("_")  # private helpers registered for two paths
            if path.startswith(f"{API_PREFIX}/tenants/{{slug}}/"):
                name = f"{name}_in_studio"
            operations.append((name, generated, operation))
    counts: dict[str, int] = {}
    for name, _, _ in operations:
        counts[name] = counts.get(name, 0) + 1
    for name, generated, operation in operations:
        operation["operationId"] = name if counts[name] == 1 else generated
