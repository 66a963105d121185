"""A fake Yoco online-payments API on 127.0.0.1: checkouts, their status and refunds,
answered as Yoco answers, and webhook events signed the Standard Webhooks way with the
studio's own webhook secret."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake

SECRET_KEY = "sk_test_9f1c2b3a4d5e6f70"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "errorMessage": message}, status_code=status)


class FakeYoco(ThreadedFake):
    def __init__(self) -> None:
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, idempotency key
        self._by_idempotency_key: dict[str, dict[str, Any]] = {}
        self.failures_left = 0  # answer this many requests with a 503 first
        super().__init__(
            [
                Route("/api/checkouts", self._create_checkout, methods=["POST"]),
                Route("/api/checkouts/{id}", self._get_checkout, methods=["GET"]),
                Route("/api/checkouts/{id}/refund", self._refund, methods=["POST"]),
            ]
        )

    # --- the API -------------------------------------------------------------------------

    def _refused(self, request: Request) -> JSONResponse | None:
        self.requests.append(
            (request.method, request.url.path, request.headers.get("idempotency-key"))
        )
        if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "unauthorized", "Invalid secret key")
        if self.failures_left > 0:
            self.failures_left -= 1
            return _error(503, "service_unavailable", "Try again")
        return None

    async def _create_checkout(self, request: Request) -> JSONResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        key = request.headers.get("idempotency-key")
        if key and key in self._by_idempotency_key:
            return JSONResponse(self._by_idempotency_key[key])
        body = await request.json()
        if not isinstance(body.get("amount"), int) or body["amount"] < 200:
            return _error(400, "invalid_amount", "amount must be an integer of at least 200")
        checkout_id = f"ch_{uuid.uuid4().hex[:24]}"
        checkout = {
            "id": checkout_id,
            "redirectUrl": f"https://c.yoco.com/checkout/{checkout_id}",
            "status": "created",
            "amount": body["amount"],
            "currency": body.get("currency", "ZAR"),
            "paymentId": None,
            "successUrl": body.get("successUrl"),
            "cancelUrl": body.get("cancelUrl"),
            "failureUrl": body.get("failureUrl"),
            "metadata": {**(body.get("metadata") or {}), "checkoutId": checkout_id},
            "externalId": body.get("externalId"),
            "processingMode": "test",
        }
        self.checkouts[checkout_id] = checkout
        if key:
            self._by_idempotency_key[key] = checkout
        return JSONResponse(checkout)

    async def _get_checkout(self, request: Request) -> JSONResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        checkout = self.checkouts.get(request.path_params["id"])
        if checkout is None:
            return _error(404, "not_found", "No such checkout")
        return JSONResponse(checkout)

    async def _refund(self, request: Request) -> JSONResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        checkout = self.checkouts.get(request.path_params["id"])
        if checkout is None or checkout["status"] != "completed":
            return _error(400, "not_refundable", "Only a completed checkout can be refunded")
        body = await request.json() if await request.body() else {}
        amount = body.get("amount", checkout["amount"])
        refunded = sum(r["amount"] for r in self.refunds if r["checkoutId"] == checkout["id"])
        if amount > checkout["amount"] - refunded:
            return _error(400, "amount_too_large", "Refund exceeds the payment")
        refund = {
            "id": checkout["id"],
            "refundId": f"rfd_{uuid.uuid4().hex[:20]}",
            "message": "Refund successful",
            "status": "successful",
            "checkoutId": checkout["id"],
            "amount": amount,
        }
        self.refunds.append(refund)
        return JSONResponse(refund)

    # --- the member's side, and the webhooks -----------------------------------------------

    def pay(self, checkout_id: str, *, succeeded: bool = True) -> None:
        """The member pays (or the card is declined) on Yoco's hosted page."""
        checkout = self.checkouts[checkout_id]
        checkout["status"] = "completed" if succeeded else "started"
        checkout["paymentId"] = f"p_{uuid.uuid4().hex[:20]}" if succeeded else None

    def event(self, checkout_id: str, event_type: str = "payment.succeeded") -> bytes:
        checkout = self.checkouts[checkout_id]
        now = datetime.now(UTC).isoformat()
        return json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex[:20]}",
                "type": event_type,
                "createdDate": now,
                "payload": {
                    "id": checkout["paymentId"] or f"p_{uuid.uuid4().hex[:20]}",
                    "type": "payment",
                    "createdDate": now,
                    "amount": checkout["amount"],
                    "currency": checkout["currency"],
                    "status": "succeeded" if event_type == "payment.succeeded" else "failed",
                    "mode": "test",
                    "metadata": checkout["metadata"],
                },
            }
        ).encode()

    @staticmethod
    def sign(
        body: bytes, secret: str = WEBHOOK_SECRET, at: datetime | None = None
    ) -> dict[str, str]:
        message_id = f"msg_{uuid.uuid4().hex[:20]}"
        timestamp = at or datetime.now(UTC)
        signature = Webhook(secret).sign(message_id, timestamp, body.decode())
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        }
