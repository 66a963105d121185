from studioloop.core.errors import Conflict, Forbidden, NotFound


class NotOnMarketplace(NotFound):
    code = "NOT_ON_MARKETPLACE"
    message = "This class is not offered on the marketplace."


class CommissionTermsForbidden(Forbidden):
    message = "Only the platform operator sets a studio's payout rate and commission."


class CardNotAvailable(Conflict):
    code = "CARD_NOT_AVAILABLE"
    message = (
        "This class can only be booked with universal credits on the marketplace "
        "(it has no drop-in price, or its studio takes cards only on its own pages)."
    )
