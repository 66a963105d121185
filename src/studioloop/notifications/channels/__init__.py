"""Delivery channels. Each one sends a `Notification` row and returns the provider's
message id (None: nothing left the building, as with email and no SMTP server), or raises
`ChannelError`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.notifications.channels import email, push, sms, whatsapp
from studioloop.notifications.channels.base import ChannelError, e164
from studioloop.notifications.models import Notification

__all__ = ["ChannelError", "configured", "e164", "send"]


def configured(settings: Settings, channel: str) -> bool:
    """Whether the platform can send on this channel at all."""
    if channel == "whatsapp":
        return whatsapp.configured(settings)
    if channel == "sms":
        return sms.configured(settings)
    return channel in ("email", "push")


async def send(settings: Settings, session: AsyncSession, notification: Notification) -> str | None:
    if notification.channel == "email":
        return await email.send(settings, session, notification)
    if notification.channel == "whatsapp":
        return await whatsapp.send(settings, notification)
    if notification.channel == "sms":
        return await sms.send(settings, notification)
    if notification.channel == "push":
        return await push.send(settings, session, notification)
    raise ChannelError(f"unknown channel {notification.channel}", permanent=True)
