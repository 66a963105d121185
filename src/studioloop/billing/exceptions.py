from __future__ import annotations

from studioloop.core.errors import Conflict, NotFound


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"
    message = "No such membership plan (or it is no longer on sale)."


class PlanNameTaken(Conflict):
    code = "NAME_TAKEN"
    message = "A membership plan with this name already exists."


class SubscriptionNotFound(NotFound):
    code = "SUBSCRIPTION_NOT_FOUND"
    message = "No such membership."


class AlreadySubscribed(Conflict):
    code = "ALREADY_SUBSCRIBED"
    message = "You already have a membership at this studio; change its plan instead."


class SubscriptionNotChangeable(Conflict):
    code = "SUBSCRIPTION_NOT_CHANGEABLE"
    message = "This membership cannot be changed in its current state."
