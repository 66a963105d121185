"""Optional error reporting to Sentry (or a service speaking its protocol): off unless
SENTRY_DSN is set.

Unhandled errors reach it three ways: the FastAPI and Starlette integrations (errors that
escape to the server), `report_exception` where our own handlers turn an error into a 500
envelope (those never escape, so the integrations would not see them), and the logging
integration for errors logged through the standard library (procrastinate's failed jobs).
No personal data is sent: no cookies, credentials, bodies, local variables or addresses.
"""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration

from studioloop import __version__
from studioloop.config import Settings

RELEASE = f"studioloop@{__version__}"


def init_error_reporting(settings: Settings) -> bool:
    """Start reporting if a DSN is configured; True if it did."""
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=RELEASE,
        send_default_pii=False,
        # Not even through the back door: a frame's local variables include the ASGI
        # scope (its Authorization and Cookie headers as bytes, which the SDK's scrubber
        # does not recognise), and request bodies carry passwords and card-holder details.
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=[StarletteIntegration(), FastApiIntegration()],
    )
    return True


def report_exception(error: BaseException) -> None:
    """Send an error we answered with a 500 ourselves; nothing when reporting is off."""
    sentry_sdk.capture_exception(error)
