"""Fake messaging providers on 127.0.0.1, speaking their real wire formats:

- the WhatsApp Cloud API (`POST /{phone-number-id}/messages`, Graph API errors, and status
  webhooks signed with the app secret as Meta signs them);
- a Clickatell-style SMS gateway (`POST /messages`);
- a Web Push service that checks the VAPID signature and decrypts the payload (RFC 8291,
  aes128gcm) with the browser's keys, as a real push service and browser would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ThreadedFake

WHATSAPP_TOKEN = "EAAG-test-token"
WHATSAPP_PHONE_ID = "109876543210"
WHATSAPP_APP_SECRET = "whatsapp-app-secret"
WHATSAPP_VERIFY_TOKEN = "verify-me"
SMS_API_KEY = "sms-api-key-123"


class FakeWhatsApp(ThreadedFake):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.undeliverable: set[str] = set()  # numbers (digits) answered with an error
        self.unavailable = 0  # answer this many requests with a 500 first
        super().__init__([Route("/v21.0/{phone_id}/messages", self._send, methods=["POST"])])

    @property
    def api_base(self) -> str:
        return f"{self.url}/v21.0"

    async def _send(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return _graph_error(401, 190, "Invalid OAuth access token.")
        if request.path_params["phone_id"] != WHATSAPP_PHONE_ID:
            return _graph_error(400, 100, "Unsupported post request.")
        if self.unavailable > 0:
            self.unavailable -= 1
            return _graph_error(500, 131000, "Something went wrong")
        body = await request.json()
        template = body.get("template") or {}
        if (
            body.get("messaging_product") != "whatsapp"
            or body.get("type") != "template"
            or not template.get("name")
            or not (template.get("language") or {}).get("code")
            or not str(body.get("to", "")).isdigit()
        ):
            return _graph_error(400, 100, "Invalid parameter")
        if body["to"] in self.undeliverable:
            return _graph_error(400, 131026, "Message Undeliverable.")
        message_id = f"wamid.{uuid.uuid4().hex}"
        self.messages.append({"id": message_id, **body})
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": message_id}],
            }
        )

    @staticmethod
    def parameters(message: dict[str, Any]) -> list[str]:
        components = message["template"]["components"]
        return [p["text"] for p in components[0]["parameters"]]


def _graph_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEf123",
            }
        },
        status_code=status,
    )


def whatsapp_webhook(
    *,
    statuses: list[dict[str, Any]] = (),
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> tuple[bytes, dict[str, str]]:
    """A webhook POST body and its headers, signed the way Meta signs them."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA-1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": WHATSAPP_PHONE_ID},
                            "statuses": list(statuses),
                            "messages": list(messages),
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={signature}"}
    return body, headers


class FakeSmsGateway(ThreadedFake):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.undeliverable: set[str] = set()  # numbers (digits) the gateway refuses
        super().__init__([Route("/messages", self._send, methods=["POST"])])

    async def _send(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != SMS_API_KEY:
            return JSONResponse(
                {"messages": [], "error": {"code": 1, "description": "Invalid API key"}},
                status_code=401,
            )
        body = await request.json()
        answers = []
        for message in body.get("messages") or []:
            to = str(message.get("to", ""))
            if not to.isdigit() or to in self.undeliverable:
                answers.append(
                    {
                        "accepted": False,
                        "to": message.get("to"),
                        "error": {"code": 105, "description": "Invalid destination"},
                    }
                )
                continue
            message_id = uuid.uuid4().hex
            self.messages.append({"apiMessageId": message_id, **message})
            answers.append({"apiMessageId": message_id, "accepted": True, "to": message["to"]})
        return JSONResponse({"messages": answers, "error": None}, status_code=202)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """A browser's push subscription: its own key pair and auth secret."""

    def __init__(self, push_service: FakePushService) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = f"{push_service.url}/push/{uuid.uuid4().hex}"
        push_service.browsers[self.endpoint.rsplit("/", 1)[-1]] = self

    def subscription(self) -> dict[str, Any]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": _b64(public), "auth": _b64(self.auth)},
        }


class FakePushService(ThreadedFake):
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.gone: set[str] = set()  # subscription ids the "browser" has dropped
        self.received: list[dict[str, Any]] = []  # decrypted payloads
        self.vapid_keys: list[str] = []
        super().__init__([Route("/push/{id}", self._push, methods=["POST"])])

    async def _push(self, request: Request) -> Response:
        subscription_id = request.path_params["id"]
        if subscription_id in self.gone or subscription_id not in self.browsers:
            return Response(status_code=410)
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("vapid "):
            return Response("missing VAPID authorization", status_code=401)
        parts = dict(
            item.strip().split("=", 1) for item in authorization[len("vapid ") :].split(",")
        )
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(parts["k"]))
        try:
            claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=self.url)
        except jwt.PyJWTError as error:
            return Response(f"bad VAPID token: {error}", status_code=403)
        if not str(claims.get("sub", "")).startswith("mailto:"):
            return Response("VAPID sub must be a contact", status_code=403)
        if request.headers.get("content-encoding") != "aes128gcm" or not request.headers.get("ttl"):
            return Response("bad push headers", status_code=400)
        browser = self.browsers[subscription_id]
        plain = http_ece.decrypt(
            await request.body(),
            private_key=browser.key,
            auth_secret=browser.auth,
            version="aes128gcm",
        )
        self.vapid_keys.append(parts["k"])
        self.received.append({"subscription": subscription_id, **json.loads(plain)})
        return Response(status_code=201)
