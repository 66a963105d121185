from __future__ import annotations

from studioloop.core.errors import AppError, NotFound, RateLimited, Unauthorized, ValidationFailed


class RoomNotFound(NotFound):
    code = "ROOM_NOT_FOUND"
    message = "There is no such conversation, or it is not yours."


class ChatTokenInvalid(Unauthorized):
    code = "CHAT_TOKEN_INVALID"
    message = "The chat token is missing, expired or not valid here; ask for a new one."


class MessageTooLong(ValidationFailed):
    code = "MESSAGE_TOO_LONG"
    message = "A message can be at most 4,000 characters."


class SendingTooFast(RateLimited):
    code = "SENDING_TOO_FAST"
    message = "Too many messages in a minute; wait a moment."


class AttachmentRefused(AppError):
    status_code = 422
    code = "ATTACHMENT_TYPE"
    message = "Only images (PNG, JPEG, WebP) and PDF files can be sent."


class AboutInvalid(AppError):
    status_code = 422
    code = "ABOUT_INVALID"
    message = "The ticket can only be about a member, booking or payment of yours here."


class StaffOnly(AppError):
    status_code = 403
    code = "STAFF_ONLY"
    message = "Only the studio's staff can do this."
