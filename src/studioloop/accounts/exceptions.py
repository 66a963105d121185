from studioloop.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    message = "The email or password is incorrect."


class EmailNotVerified(Forbidden):
    code = "EMAIL_NOT_VERIFIED"
    message = "Verify your email address first; we sent you a 6-digit code."


class AccountDisabled(Forbidden):
    code = "ACCOUNT_DISABLED"
    message = "This account is disabled."


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    message = "An account with this email already exists."


class InvalidCode(BadRequest):
    code = "INVALID_CODE"
    message = "The code is not correct."
    keep_changes = True  # the failed attempt is counted


class ResetCodeRefused(InvalidCode):
    """Every refusal of a password-reset code, for known and unknown emails alike."""

    message = "The code is not correct or no longer valid; check it or ask for a new one."


class CodeExpired(BadRequest):
    code = "CODE_EXPIRED"
    message = "The code has expired; ask for a new one."


class TooManyAttempts(BadRequest):
    code = "CODE_ATTEMPTS_EXCEEDED"
    message = "Too many wrong codes; ask for a new one."
    keep_changes = True


class AlreadyVerified(Conflict):
    code = "ALREADY_VERIFIED"
    message = "This email address is already verified; sign in."


class InvalidToken(Unauthorized):
    code = "INVALID_TOKEN"
    message = "The token is invalid."


class TokenExpired(Unauthorized):
    code = "TOKEN_EXPIRED"
    message = "The token has expired."


class SessionEnded(Unauthorized):
    code = "SESSION_ENDED"
    message = "This sign-in has ended (signed out or password changed); sign in again."


class RefreshTokenReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"
    message = "This refresh token was already used; every session from that sign-in is now closed."
    keep_changes = True  # the family revocation must stick


class MemberNotFound(NotFound):
    code = "MEMBER_NOT_FOUND"
    message = "No such member in this studio."


class InsufficientRole(Forbidden):
    code = "INSUFFICIENT_ROLE"
    message = "Your role in this studio does not allow this."


class LastOwner(Conflict):
    code = "LAST_OWNER"
    message = "A studio must keep at least one owner."


class AlreadyMember(Conflict):
    code = "ALREADY_MEMBER"
    message = "You are already a member of this studio."


class InviteeAlreadyMember(Conflict):
    code = "ALREADY_MEMBER"
    message = "This person is already an active member of this studio."


class InvitationNotFound(NotFound):
    # Unknown and already-used tokens get the same answer: nothing to learn by probing.
    code = "INVITATION_NOT_FOUND"
    message = "This invitation does not exist or has already been used."


class InvitationExpired(BadRequest):
    code = "INVITATION_EXPIRED"
    message = "This invitation has expired; ask the studio to send a new one."


class WrongPassword(BadRequest):
    # 400, not 401: the person is signed in; only the password they typed is wrong.
    code = "WRONG_PASSWORD"
    message = "Your current password is not right."


class TermsNotAccepted(BadRequest):
    code = "TERMS_NOT_ACCEPTED"
    message = "Accept the terms and the privacy notice to create your account."
