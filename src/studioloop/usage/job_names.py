"""Names of usage's jobs that other code defers (`jobs.defer`), apart from usage/tasks.py:
that module imports the code that defers them."""

FORWARD_TO_POSTHOG = "forward_usage_to_posthog"
