"""WhatsApp Cloud API template messages (the only kind a business may start a conversation
with). Templates are approved in Meta's Business Manager under the event's name; the body
parameters are the event's `whatsapp_params` in order (docs/notifications.md lists them)."""

from __future__ import annotations

from studioloop.config import Settings
from studioloop.notifications.channels.base import ChannelError, post_json
from studioloop.notifications.models import Notification


def configured(settings: Settings) -> bool:
    return bool(settings.whatsapp_access_token and settings.whatsapp_phone_number_id)


def message_body(notification: Notification) -> dict[str, object]:
    template = notification.payload["whatsapp"]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": notification.recipient.lstrip("+"),
        "type": "template",
        "template": {
            "name": template["name"],
            "language": {"code": template["language"]},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in template["parameters"]],
                }
            ],
        },
        # Comes back on every status webhook: which delivery it is and whose studio, so
        # the webhook can find the row under row-level security.
        "biz_opaque_callback_data": f"{notification.tenant_id or ''}:{notification.id}",
    }


async def send(settings: Settings, notification: Notification) -> str:
    if not configured(settings):
        raise ChannelError("WhatsApp is not set up", permanent=True)
    assert settings.whatsapp_access_token is not None
    response = await post_json(
        f"{settings.whatsapp_api_base.rstrip('/')}/{settings.whatsapp_phone_number_id}/messages",
        provider="WhatsApp",
        headers={"Authorization": f"Bearer {settings.whatsapp_access_token.get_secret_value()}"},
        body=message_body(notification),
    )
    messages = response.json().get("messages") or []
    if not messages:
        raise ChannelError(f"WhatsApp accepted nothing: {response.text[:500]}", permanent=True)
    return str(messages[0]["id"])
