from studioloop.core.errors import Forbidden, NotFound


class NotOnMarketplace(NotFound):
    code = "NOT_ON_MARKETPLACE"
    message = "This class is not offered on the marketplace."


class CommissionTermsForbidden(Forbidden):
    message = "Only the platform operator sets a studio's payout rate and commission."
