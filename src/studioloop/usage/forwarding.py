"""Forwarding a studio's usage events to its own PostHog project (optional, off unless
the studio's settings hold `posthog_api_key`), through PostHog's capture batch API
(`POST {host}/batch/`), by a job deferred with the batch: it is sent only if the batch's
transaction commits, retried if PostHog is down, and never slows ingestion.

The host is the operator's (POSTHOG_US_HOST or POSTHOG_EU_HOST by the studio's
`posthog_region`), never a URL a studio types: a studio cannot make our workers post to an
address of its choosing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from studioloop.config import Settings
from studioloop.usage.rules import Event

TIMEOUT_SECONDS = 10.0


def destination(settings: Settings, studio: dict[str, Any]) -> tuple[str, str] | None:
    """(host, project API key) when the studio forwards its usage; else None."""
    key = studio.get("posthog_api_key")
    if not isinstance(key, str) or not key.strip():
        return None
    host = (
        settings.posthog_eu_host
        if studio.get("posthog_region") == "eu"
        else settings.posthog_us_host
    )
    return host.rstrip("/"), key.strip()


def capture_batch(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The events as PostHog captures them: the customer's user id as `distinct_id`, the
    event id as `$insert_id` (PostHog drops a second copy, so a retried job is harmless)."""
    return [
        {
            "event": event.name,
            "distinct_id": str(event.user_id),
            "timestamp": event.occurred_at.isoformat(),
            "properties": {
                **event.properties,
                **({"value": float(event.value)} if event.value is not None else {}),
                "$insert_id": event.event_id,
                "$lib": "studioloop",
            },
        }
        for event in events
    ]


async def send(host: str, api_key: str, batch: list[dict[str, Any]]) -> None:
    """POST the batch; an answer other than 2xx raises, so the job is retried."""
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        response = await client.post(f"{host}/batch/", json={"api_key": api_key, "batch": batch})
        response.raise_for_status()
