"""A fake Stripe API on 127.0.0.1: the few endpoints StudioLoop calls, answered the way
Stripe answers them (form-encoded requests, JSON objects, error envelopes), and webhook
events signed with Stripe's scheme. The real `stripe` SDK talks to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.smtp import free_port

API_KEY = "sk_test_studioloop"
WEBHOOK_SECRET = "whsec_studioloop_test"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


class FakeStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sessions: dict[str, dict[str, Any]] = {}
        self.session_forms: dict[str, dict[str, str]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self._transfer_keys: dict[str, dict[str, Any]] = {}
        self._by_idempotency_key: dict[str, str] = {}
        self.failures_left = 0  # answer this many requests with a 500 first
        app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
                Route("/v1/transfers", self._create_transfer, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # --- the API -------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {API_KEY}"

    async def _create_session(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided", "invalid_request_error")
        if self.failures_left > 0:
            self.failures_left -= 1
            return _error(500, "An unknown error occurred", "api_error")
        key = request.headers.get("idempotency-key")
        if key and key in self._by_idempotency_key:
            return JSONResponse(self.sessions[self._by_idempotency_key[key]])
        form = {k: str(v) for k, v in (await request.form()).items()}
        session_id = f"cs_test_{uuid.uuid4().hex}"
        metadata = {
            k.removeprefix("metadata[").removesuffix("]"): v
            for k, v in form.items()
            if k.startswith("metadata[")
        }
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
        }
        self.session_forms[session_id] = form
        if key:
            self._by_idempotency_key[key] = session_id
        return JSONResponse(self.sessions[session_id])

    async def _get_session(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return _error(404, "No such checkout.session")
        return JSONResponse(session)

    async def _create_refund(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        form = {k: str(v) for k, v in (await request.form()).items()}
        intent = form.get("payment_intent")
        session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
        if session is None:
            return _error(404, f"No such payment_intent: '{intent}'")
        amount = int(form.get("amount", session["amount_total"]))
        refunded = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent)
        if refunded + amount > session["amount_total"]:
            return _error(400, "Refund amount is greater than unrefunded amount on charge")
        refund = {
            "id": f"re_{uuid.uuid4().hex}",
            "object": "refund",
            "amount": amount,
            "payment_intent": intent,
            "status": "succeeded",
        }
        self.refunds.append(refund)
        return JSONResponse(refund)

    async def _create_transfer(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        key = request.headers.get("idempotency-key")
        if key and key in self._transfer_keys:
            return JSONResponse(self._transfer_keys[key])
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not form.get("destination", "").startswith("acct_"):
            return _error(400, "No such destination")
        transfer = {
            "id": f"tr_{uuid.uuid4().hex}",
            "object": "transfer",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "destination": form["destination"],
        }
        self.transfers.append(transfer)
        if key:
            self._transfer_keys[key] = transfer
        return JSONResponse(transfer)

    # --- what the member and Stripe do -----------------------------------------------------

    def pay(self, session_id: str) -> None:
        """The member pays on Stripe's page."""
        session = self.sessions[session_id]
        session.update(
            status="complete", payment_status="paid", payment_intent=f"pi_{uuid.uuid4().hex}"
        )

    def event(self, event_type: str, session_id: str) -> tuple[bytes, str]:
        """A webhook event about a session: its body and `Stripe-Signature` header."""
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "api_version": "2026-10-28.endive",
                "created": int(time.time()),
                "type": event_type,
                "data": {"object": self.sessions[session_id]},
            }
        ).encode()
        return body, sign(body)


def sign(body: bytes, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    """Stripe's scheme: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with the secret>."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
