from studioloop.core.errors import AppError, Conflict, NotFound


class InsufficientCredits(AppError):
    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    message = "You do not have enough credits for this."


class PackageNotFound(NotFound):
    code = "PACKAGE_NOT_FOUND"
    message = "No such credit package in this studio."


class PackageNotForSale(Conflict):
    code = "PACKAGE_NOT_FOR_SALE"
    message = "This credit package has no price, so it cannot be bought; ask the studio."


class PackageNameTaken(Conflict):
    code = "NAME_TAKEN"
    message = "A package with this name already exists."


class CreditAccountHolderNotFound(NotFound):
    code = "USER_NOT_FOUND"
    message = "No such person."
