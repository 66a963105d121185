from __future__ import annotations

import re

import httpx

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class ChannelError(Exception):
    """A delivery that did not go through. `permanent`: trying again will not help (a
    refused number, a channel no longer set up), so a critical message falls back at once
    and anything else is marked failed rather than retried."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def e164(phone: str | None) -> str | None:
    """A stored phone number in E.164 (+27821234567), or None when it is not international:
    a local number is ambiguous, and messaging the wrong country costs money and trust."""
    if not phone:
        return None
    compact = re.sub(r"[\s().-]", "", phone)
    return compact if _E164.match(compact) else None


def raise_for_http(response: httpx.Response, provider: str) -> None:
    if response.is_success:
        return
    # 429 and 5xx pass with time; any other 4xx is a refusal of this message.
    transient = response.status_code == 429 or response.status_code >= 500
    raise ChannelError(
        f"{provider} answered {response.status_code}: {response.text[:500]}",
        permanent=not transient,
    )


async def post_json(
    url: str, *, provider: str, headers: dict[str, str], body: dict[str, object]
) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.post(url, headers=headers, json=body)
    except httpx.HTTPError as exc:
        raise ChannelError(f"{provider} unreachable: {exc}", permanent=False) from exc
    raise_for_http(response, provider)
    return response
