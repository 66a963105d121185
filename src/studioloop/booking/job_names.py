"""Names of booking's jobs that other code defers (`jobs.defer`), apart from booking/tasks.py:
that module imports the code that defers them."""

ANNOUNCE_BOOKING = "announce_booking"
