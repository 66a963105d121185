"""SMS through a Clickatell-style gateway: `POST {base}/messages` with the API key in the
Authorization header; each message is accepted or refused on its own."""

from __future__ import annotations

from studioloop.config import Settings
from studioloop.notifications.channels.base import ChannelError, post_json
from studioloop.notifications.models import Notification


def configured(settings: Settings) -> bool:
    return settings.sms_api_key is not None


async def send(settings: Settings, notification: Notification) -> str:
    if settings.sms_api_key is None:
        raise ChannelError("SMS is not set up", permanent=True)
    response = await post_json(
        f"{settings.sms_api_base.rstrip('/')}/messages",
        provider="SMS gateway",
        headers={
            "Authorization": settings.sms_api_key.get_secret_value(),
            "Accept": "application/json",
        },
        body={
            "messages": [
                {
                    "channel": "sms",
                    "to": notification.recipient.lstrip("+"),
                    "content": notification.body_text,
                    # Ours, echoed in the gateway's delivery reports and logs.
                    "clientMessageId": str(notification.id),
                }
            ]
        },
    )
    answer = response.json()
    results = answer.get("messages") or []
    if not results or not results[0].get("accepted"):
        error = (results[0].get("error") if results else None) or answer.get("error")
        raise ChannelError(f"SMS refused: {error}", permanent=True)
    return str(results[0]["apiMessageId"])
