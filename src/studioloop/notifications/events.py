"""Every message the platform sends, and the rules that decide how it may be sent.

Categories decide whether a member can switch a message off:

- security: codes, password resets, invitations. Email only (it is the address being proved)
  and always sent.
- account: receipts, failed payments, membership billing. Always sent, because the member
  needs them to know where their money went; the channel still follows their choice.
- booking: confirmations and changes to their classes (the "booking updates" switch).
- reminder: class reminders (the "reminders" switch and timing).
- marketing: announcements; only to members who opted in (off by default).

Critical messages fall back WhatsApp -> SMS -> email when a channel fails or is not set up,
because missing them costs the member a class or money.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("security", "account", "booking", "reminder", "marketing")
# Categories a member may switch off, and the preference field that does it.
OPTIONAL_CATEGORIES = {
    "booking": "booking_updates",
    "reminder": "reminders",
    "marketing": "marketing",
}
FALLBACK_ORDER = ("whatsapp", "sms", "email")


@dataclass(frozen=True)
class Event:
    name: str
    category: str
    subject: str  # a str.format pattern over the context
    critical: bool = False
    # Context keys, in order, filling the approved WhatsApp template's {{1}}, {{2}}, ...
    whatsapp_params: tuple[str, ...] = ()

    @property
    def email_only(self) -> bool:
        return self.category == "security"


_CLASS = ("first_name", "class_name", "start")

EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event("verify_email", "security", "Your StudioLoop verification code: {code}"),
        Event("password_reset", "security", "Reset your StudioLoop password"),
        Event("invitation", "security", "You're invited to join {studio_name} on StudioLoop"),
        Event("booking_confirmed", "booking", "Booked: {class_name} on {start}", False, _CLASS),
        Event(
            "booking_cancelled",
            "booking",
            "Cancelled: your booking for {class_name}",
            False,
            _CLASS,
        ),
        Event(
            "waitlist_joined",
            "booking",
            "On the waitlist for {class_name} (number {position})",
            False,
            (*_CLASS, "position"),
        ),
        Event("waitlist_promoted", "booking", "You're in: {class_name} on {start}", True, _CLASS),
        Event(
            "waitlist_offer",
            "booking",
            "A place opened in {class_name}: pay by {hold_until} to take it",
            True,
            (*_CLASS, "price", "hold_until"),
        ),
        Event(
            "waitlist_skipped",
            "booking",
            "A place opened in {class_name}, but you need credits",
            False,
            _CLASS,
        ),
        Event("class_cancelled", "booking", "Cancelled: {class_name} on {start}", True, _CLASS),
        Event(
            "instructor_changed",
            "booking",
            "New instructor for {class_name} on {start}",
            False,
            (*_CLASS, "instructor_name"),
        ),
        Event(
            "class_reminder",
            "reminder",
            "Reminder: {class_name} at {start}",
            False,
            (*_CLASS, "studio_name"),
        ),
        Event("checkin_confirmed", "booking", "Checked in: {class_name}", False, _CLASS),
        Event(
            "payment_receipt",
            "account",
            "Receipt {receipt_number}: {description}",
            False,
            ("receipt_number", "description", "amount"),
        ),
        Event("class_paid", "account", "Booked and paid: {description}", False, ("description",)),
        Event(
            "class_payment_refunded",
            "account",
            "Refund: no place left in {description}",
            True,
            ("description", "amount"),
        ),
        Event("membership_active", "account", "Your {plan} membership is active", False, ("plan",)),
        Event(
            "membership_renewing",
            "account",
            "Your {plan} membership renews on {renews_on}",
            False,
            ("plan", "renews_on", "amount"),
        ),
        Event("membership_renewal_due", "account", "Renew your {plan} membership", True, ("plan",)),
        Event(
            "membership_payment_failed",
            "account",
            "We could not renew your {plan} membership",
            True,
            ("plan",),
        ),
        Event(
            "membership_suspended",
            "account",
            "Your {plan} membership is suspended",
            True,
            ("plan",),
        ),
        Event("membership_ended", "account", "Your membership has ended", False, ()),
        Event("membership_upgraded", "account", "Your membership is now {plan}", False, ("plan",)),
        Event(
            "membership_payment_refunded",
            "account",
            "Refund: {plan} membership",
            False,
            ("plan", "amount"),
        ),
        Event(
            "credits_expiring",
            "account",
            "{credits} credits at {studio_name} expire on {expires_on}",
            False,
            ("first_name", "credits", "studio_name", "expires_on"),
        ),
        Event(
            "support_request",
            "account",
            "New support request: {subject}",
            False,
            ("from_name", "subject"),
        ),
        Event(
            "support_reply",
            "account",
            "{studio_name} answered: {subject}",
            False,
            ("first_name", "studio_name", "subject"),
        ),
        Event(
            "usage_warning",
            "account",
            "{studio_name}: {used} of {included} {meter} used",
            False,
            ("first_name", "studio_name", "meter", "used", "included"),
        ),
        Event(
            "usage_limit_reached",
            "account",
            "{studio_name}: you have used all {included} {meter}",
            False,
            ("first_name", "studio_name", "meter", "included"),
        ),
        Event(
            "studio_announcement",
            "marketing",
            "{title}",
            False,
            ("studio_name", "title"),
        ),
    )
}


def get_event(name: str) -> Event:
    try:
        return EVENTS[name]
    except KeyError:
        raise ValueError(f"unknown notification event {name!r}") from None
