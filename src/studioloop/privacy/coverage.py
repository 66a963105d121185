"""Every column that names or describes a person, and what an erasure does with it: the
one list, checked against the schema by tests/privacy/test_coverage.py. A new table or
column pointing at a user, or with a name that suggests personal data (email, phone,
name, address, body, token...), fails that test until it is added here, to ERASED with
what happens to it or to KEPT with why it stays.

`service.erase_user` does what ERASED says; docs/trust.md ("Erasure") says the same in
prose for people.
"""

from __future__ import annotations

# table.column -> what the erasure does with it.
ERASED: dict[str, str] = {
    # accounts
    "users.email": "replaced by erased-<id>@erased.invalid (unique, never deliverable)",
    "users.first_name": "'Erased'",
    "users.last_name": "'member'",
    "users.phone": "cleared",
    "users.profile_image_url": "cleared",
    "users.preferences": "emptied (language and other choices)",
    "users.password_hash": "cleared: no password can sign in",
    "users.email_verified_at": "cleared",
    "refresh_tokens.user_id": "every refresh token deleted: sessions end at once",
    "refresh_tokens.token_hash": "deleted with the token",
    "verification_codes.user_id": "deleted",
    "verification_codes.code_hash": "deleted",
    "idempotency_keys.user_id": "deleted, with the stored responses",
    "idempotency_keys.endpoint": "deleted with the key",
    "user_tenant_roles.invited_email": "cleared; pending invitations to the email deleted",
    "user_tenant_roles.invited_first_name": "cleared",
    "user_tenant_roles.invited_last_name": "cleared",
    "user_tenant_roles.invited_phone": "cleared",
    "user_tenant_roles.invitation_token_hash": "pending invitations to the email deleted",
    "user_tenant_roles.bio": "cleared",
    "user_tenant_roles.photo": "cleared, the stored photo deleted",
    "membership_audit.before": "email, names and phone removed (erase_user_history)",
    "membership_audit.after": "email, names and phone removed (erase_user_history)",
    "member_notes.user_id": "staff notes about the person deleted",
    "member_notes.body": "deleted with the note",
    # billing
    "subscriptions.payment_method_ref": "cleared (the saved card or mandate reference)",
    # booking
    "bookings.qr_code": "cleared (the door token)",
    "bookings.cancellation_reason": "cleared on the person's own bookings",
    # chat
    "chat_guests.name": "'Erased member' where the guest used the person's email",
    "chat_guests.email": "erased-<id>@erased.invalid where it was the person's",
    "chat_rooms.subject": "replaced on rooms the person opened",
    "chat_messages.sender_name": "'Erased member' (rows kept: a room's seq and counts stay)",
    "chat_messages.body": "replaced by '(message erased)'",
    "chat_messages.attachment_key": "cleared, the stored file deleted",
    "chat_messages.attachment_name": "cleared",
    "chat_messages.attachment_type": "cleared",
    "chat_messages.attachment_size": "cleared",
    "chat_read_markers.reader": "the person's read markers deleted",
    # notifications
    "notifications.recipient": "replaced by the erased address on messages to the person",
    "notifications.subject": "cleared on messages to the person",
    "notifications.body_text": "replaced by '(erased)' on messages to the person, and on "
    "messages to staff that quote their email (a support request's notice)",
    "notifications.body_html": "cleared on messages to the person",
    "notifications.payload": "emptied on messages to the person",
    "notifications.last_error": "cleared (a provider's error may quote the address)",
    "email_attachments.email_id": "attachments of messages to the person deleted",
    "email_attachments.filename": "deleted with the file (receipts, QR codes)",
    "email_attachments.content": "deleted",
    "notification_preferences.user_id": "deleted",
    "push_subscriptions.user_id": "every browser subscription deleted",
    "push_subscriptions.endpoint": "deleted",
    "push_subscriptions.p256dh": "deleted",
    "push_subscriptions.auth": "deleted",
    "push_subscriptions.user_agent": "deleted",
}

_ANONYMOUS_ID = "an id only, now of the anonymised account"

# table.column -> why it stays.
KEPT: dict[str, str] = {
    "api_keys.created_by_user_id": _ANONYMOUS_ID,
    # usage metering: the basis of usage bills, under the anonymous id; dropped with their
    # monthly partition after USAGE_EVENTS_RETENTION_MONTHS (docs/usage.md asks creators
    # not to send personal data in events)
    "usage_events.user_id": "usage behind bills, kept for the usage retention",
    "usage_events.event_name": "what was used (the creator's event name), not the person",
    "usage_events.properties": "usage behind bills, kept for the usage retention",
    "usage_aggregates.user_id": "running totals behind bills and limits",
    "usage_unique_values.user_id": "distinct values a unique-count meter counted",
    "usage_unique_values.value": "distinct values a unique-count meter counted",
    "user_tenant_roles.user_id": "the membership row stays (made inactive): "
    "who was a member when, for the studio's counts",
    "user_tenant_roles.invited_by_user_id": _ANONYMOUS_ID,
    "membership_audit.user_id": "the append-only history of memberships; its personal "
    "fields are removed",
    "membership_audit.actor_user_id": _ANONYMOUS_ID,
    "member_notes.author_user_id": "a note about someone else, written by this person",
    "subscriptions.user_id": "memberships (ended) stay: payments and renewals point at them",
    "bookings.user_id": "bookings stay: class counts, attendance and the ledger point at them",
    "bookings.cancelled_by_user_id": _ANONYMOUS_ID,
    "checkin_scans.scanned_by_user_id": _ANONYMOUS_ID,
    "chat_rooms.opened_by_user_id": _ANONYMOUS_ID,
    "chat_rooms.assignee_user_id": _ANONYMOUS_ID,
    "chat_messages.sender_user_id": _ANONYMOUS_ID,
    "credit_accounts.user_id": "the credit ledger stays whole: balance = sum of the entries",
    "credit_transactions.user_id": "the append-only credit ledger",
    "credit_transactions.actor_user_id": _ANONYMOUS_ID,
    "credit_transactions.reason": "the append-only ledger; reasons are written by staff "
    "about the entry",
    "notifications.user_id": "the delivery log stays, its content and address erased",
    "channel_opt_outs.address": "an opt-out protects the address whoever owns it now",
    "channel_opt_outs.reason": "why the address opted out (STOP), no person named",
    "payments.user_id": "financial record, kept 7 years from the payment (no name or "
    "email is stored on it)",
    "payments.provider_reference": "financial record, kept 7 years",
    "payments.description": "financial record (what was bought), kept 7 years",
    "payment_events.detail": "append-only financial history, kept 7 years",
    "payment_refunds.reason": "append-only financial history, kept 7 years",
    "payment_refunds.provider_reference": "financial record, kept 7 years",
    "payment_refunds.actor_user_id": _ANONYMOUS_ID,
    "receipts.description": "the numbered receipt, kept 7 years (no name or email on it)",
    "webhook_events.payload": "a provider's signed event as received: financial record, "
    "kept 7 years",
    "classes.instructor_id": _ANONYMOUS_ID + " (who taught)",
    "schedule_series.instructor_id": _ANONYMOUS_ID + " (who teaches)",
    "class_schedules.instructor_id": _ANONYMOUS_ID + " (who taught)",
    "class_schedules.substitute_instructor_id": _ANONYMOUS_ID + " (who stood in)",
    "erasure_records.user_id": "the record of the erasure itself (no erased data)",
    "erasure_records.reason": "why the erasure was asked for, written by the operator",
}

# Tables about a studio and what it sells, not about a person: their name-like columns
# (a class's name, a studio's address) stay. A column pointing at a user in one of them
# must still be listed above.
STUDIO_TABLES: dict[str, str] = {
    "api_keys": "the studio's keys for its own software (a name the staff gave it)",
    "usage_meters": "what a creator counts",
    "tenants": "the studio's own name and contact; closing the studio removes them",
    "locations": "the studio's places",
    "rooms": "the studio's rooms",
    "classes": "what the studio teaches",
    "class_schedules": "the studio's timetable (a cancelled class's reason)",
    "credit_packages": "what the studio sells",
    "membership_plans": "what the studio sells",
    "notification_templates": "the studio's own wording of its messages",
    "provider_credentials": "the studio's payment keys (encrypted)",
    "payout_entries": "what the platform owes the studio",
}
