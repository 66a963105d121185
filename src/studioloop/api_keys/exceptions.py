from __future__ import annotations

from studioloop.core.errors import Forbidden, NotFound, Unauthorized


class InvalidApiKey(Unauthorized):
    """Unknown, malformed or revoked: one answer, so a caller learns nothing about keys
    it does not hold."""

    code = "INVALID_API_KEY"
    message = "The API key is not valid (unknown, malformed or revoked)."


class ScopeMissing(Forbidden):
    code = "SCOPE_MISSING"
    message = "This API key does not have the scope this endpoint needs."


class WrongStudioForKey(Forbidden):
    code = "API_KEY_WRONG_STUDIO"
    message = "This API key belongs to another studio."


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    message = "No such API key at this studio."


class ApiKeyRevoked(InvalidApiKey):
    """Said only to a caller presenting the key's whole secret: it held the key."""

    code = "API_KEY_REVOKED"
    message = "This API key was revoked."
