"""Web Push to the member's installed web app, signed with VAPID (pywebpush encrypts the
payload for each browser and signs the request)."""

from __future__ import annotations

import base64
import functools
import json

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.notifications.channels.base import ChannelError
from studioloop.notifications.models import Notification, PushSubscription

# P-256's group order: a derived private scalar must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
PUSH_TTL_SECONDS = 12 * 60 * 60


@functools.lru_cache(maxsize=4)
def _vapid_key(secret: str, configured_key: str | None) -> ec.EllipticCurvePrivateKey:
    if configured_key:
        vapid = Vapid02.from_string(configured_key)
        key: ec.EllipticCurvePrivateKey = vapid.private_key
        return key
    # No key configured: derive one from SECRET_KEY, so every process agrees on it and
    # browsers' subscriptions stay valid across restarts without a key file to manage.
    seed = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=b"studioloop-vapid-v1", info=b"p256"
    ).derive(secret.encode())
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def vapid_private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    configured = (
        settings.vapid_private_key.get_secret_value() if settings.vapid_private_key else None
    )
    return _vapid_key(settings.secret_key.get_secret_value(), configured)


def application_server_key(settings: Settings) -> str:
    """The public key browsers pass to `PushManager.subscribe` (base64url, unpadded)."""
    raw = (
        vapid_private_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _subject(settings: Settings) -> str:
    address = settings.email_from.rsplit("<", 1)[-1].rstrip(">").strip()
    return f"mailto:{address}"


async def send(settings: Settings, session: AsyncSession, notification: Notification) -> str:
    if notification.user_id is None:
        raise ChannelError("push needs a member", permanent=True)
    subscriptions = list(
        await session.scalars(
            select(PushSubscription).where(PushSubscription.user_id == notification.user_id)
        )
    )
    if not subscriptions:
        raise ChannelError("no device is subscribed to push", permanent=True)
    data = json.dumps(
        {
            "title": notification.subject or "StudioLoop",
            "body": notification.body_text,
            "url": notification.payload.get("url", "/"),
            "tag": notification.event,
        }
    )
    # RFC 8292 headers (`Authorization: vapid t=..., k=...`), which every push service takes.
    vapid = Vapid02(private_key=vapid_private_key(settings))
    delivered, errors, gone = 0, [], []
    for subscription in subscriptions:
        try:
            await webpush_async(
                {
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=data,
                vapid_private_key=vapid,
                vapid_claims={"sub": _subject(settings)},
                ttl=PUSH_TTL_SECONDS,
                timeout=15,
            )
            delivered += 1
        except WebPushException as exc:
            # 404/410: the browser dropped the subscription; stop sending to it.
            if exc.response is not None and exc.status_code in (404, 410):
                gone.append(subscription.id)
            errors.append(str(exc).splitlines()[0])
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            errors.append(str(exc))
    if gone:
        await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    if not delivered:
        raise ChannelError("; ".join(errors)[:2000], permanent=len(gone) == len(subscriptions))
    await session.execute(
        update(PushSubscription)
        .where(PushSubscription.user_id == notification.user_id)
        .values(last_sent_at=func.now())
    )
    return f"{delivered}/{len(subscriptions)} devices"
