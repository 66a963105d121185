"""schema.org Event markup (JSON-LD) for class listings, so search engines can show a
studio's classes with their time, place and price.

JSON-LD is a data block, not a script: the Content-Security-Policy does not stop it,
and nothing runs. `<` is escaped so a class named "</script>" cannot end the block.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup

SCHEDULED = "https://schema.org/EventScheduled"
CANCELLED = "https://schema.org/EventCancelled"
OFFLINE = "https://schema.org/OfflineEventAttendanceMode"
IN_STOCK = "https://schema.org/InStock"
SOLD_OUT = "https://schema.org/SoldOut"


def postal_address(address: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "streetAddress": address.get("street"),
        "addressLocality": address.get("city"),
        "addressRegion": address.get("province"),
        "postalCode": address.get("postal_code"),
        "addressCountry": address.get("country"),
    }
    return {"@type": "PostalAddress", **{k: v for k, v in fields.items() if v}}


def place(
    name: str, address: dict[str, Any], latitude: float | None, longitude: float | None
) -> dict[str, Any]:
    found: dict[str, Any] = {"@type": "Place", "name": name, "address": postal_address(address)}
    if latitude is not None and longitude is not None:
        found["geo"] = {"@type": "GeoCoordinates", "latitude": latitude, "longitude": longitude}
    return found


def decimal_price(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def class_event(
    *,
    name: str,
    description: str | None,
    start: datetime,
    end: datetime,
    url: str,
    location: dict[str, Any],
    organizer_name: str,
    organizer_url: str,
    price: int | None,
    currency: str,
    spots: int,
    cancelled: bool = False,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": name,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "eventStatus": CANCELLED if cancelled else SCHEDULED,
        "eventAttendanceMode": OFFLINE,
        "url": url,
        "location": location,
        "organizer": {"@type": "Organization", "name": organizer_name, "url": organizer_url},
    }
    if description:
        event["description"] = description[:500]
    if price is not None:
        event["offers"] = {
            "@type": "Offer",
            "price": decimal_price(price),
            "priceCurrency": currency,
            "availability": IN_STOCK if spots > 0 else SOLD_OUT,
            "url": url,
        }
    return event


def json_ld(items: list[dict[str, Any]]) -> Markup:
    """The events as one JSON-LD block's content (safe inside <script>)."""
    text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e"))  # noqa: S704
