"""Who reacts to whom across domains, in one place.

A lower domain calls the domains above it only through a registry it owns: payments
through `payments.fulfilment` (a payment's purpose -> what it was for), booking through
`booking.hooks`, scheduling through `scheduling.hooks`. `wire()` fills those registries. It
is called at start-up by `create_app` and by every job worker (`jobs.worker`), not left to
import side effects: a handler registered by its module's decorator exists only in the
processes that happened to import that module, and importing it from the registry's side
is the circle this replaces. Calling it again changes nothing.
"""

from __future__ import annotations

from studioloop.billing import service as billing
from studioloop.booking import hooks as booking_hooks, notices, service as booking
from studioloop.jobs.app import job_app
from studioloop.payments import class_payments, credit_packs, fulfilment, payouts
from studioloop.scheduling import hooks as scheduling_hooks


def wire() -> None:
    fulfilment.register("credit_pack", succeeded=credit_packs.fulfil)
    fulfilment.register(
        "class_booking",
        succeeded=class_payments.fulfil,
        closed=class_payments.payment_closed,
        refunded=class_payments.payment_refunded,
    )
    fulfilment.register("subscription", succeeded=billing.payment_succeeded)
    fulfilment.register("subscription_upgrade", succeeded=billing.payment_succeeded)

    booking_hooks.on_booking_cancelled(payouts.reverse_marketplace_settlement)
    booking_hooks.on_booking_cancelled(class_payments.refund_cancelled_class)
    scheduling_hooks.on_occurrence_cancelled(booking.cancel_all_bookings)
    scheduling_hooks.on_teacher_changed(notices.tell_booked_members)

    # The tasks, registered by importing their modules (procrastinate's way): now, so that
    # a broken task module stops the start-up rather than the first job deferred to it.
    job_app.perform_import_paths()  # type: ignore[no-untyped-call]  # unannotated upstream
