from __future__ import annotations

from studioloop.core.errors import Conflict, NotFound, ValidationFailed


class MeterNotFound(NotFound):
    code = "METER_NOT_FOUND"
    message = "There is no such meter in this studio."


class MeterSlugTaken(Conflict):
    code = "METER_SLUG_TAKEN"
    message = "Another meter of this studio has that slug."


class MeterInUse(Conflict):
    code = "METER_IN_USE"
    message = (
        "This meter has counted events already: what it counts (event, filter, aggregation, "
        "property, reset) cannot change. Archive it and make a new one."
    )


class CustomerNotFound(NotFound):
    code = "CUSTOMER_NOT_FOUND"
    message = "No member of this studio has that user id or email."


class CheckQueryInvalid(ValidationFailed):
    code = "CHECK_QUERY_INVALID"
    message = "Ask about one `meter` (with an optional `amount`) or one `feature`."
