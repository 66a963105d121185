from __future__ import annotations

from studioloop.core.errors import NotFound, ValidationFailed


class UnknownEvent(NotFound):
    code = "UNKNOWN_EVENT"
    message = "There is no such message."


class TemplateInvalid(ValidationFailed):
    code = "TEMPLATE_INVALID"
    message = "The template could not be rendered."
