"""Names of the notification jobs that other code defers (`jobs.defer`), apart from
notifications/tasks.py: that module imports the code that defers them."""

DELIVER_NOTIFICATION = "deliver_notification"
SEND_ANNOUNCEMENT = "send_announcement"
