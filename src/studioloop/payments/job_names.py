"""Names of the payment jobs that other code defers (`jobs.defer`), apart from
payments/tasks.py: that module imports the code that defers them."""

PROCESS_WEBHOOK_EVENT = "process_webhook_event"
REFUND_PAYMENT_IN_FULL = "refund_payment_in_full"
