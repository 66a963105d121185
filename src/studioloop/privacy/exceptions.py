from __future__ import annotations

from studioloop.core.errors import Conflict, NotFound


class ErasureBlocked(Conflict):
    code = "ERASURE_BLOCKED"
    message = "The account cannot be erased yet: resolve what is listed first."


class AlreadyErased(Conflict):
    code = "ALREADY_ERASED"
    message = "This account was erased already."


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    message = "No account has this id."
