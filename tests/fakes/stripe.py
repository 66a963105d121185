"""A fake Stripe API on 127.0.0.1: the few endpoints StudioLoop calls, answered the way
Stripe answers them (form-encoded requests, JSON objects, error envelopes), and webhook
events signed with Stripe's scheme. The real `stripe` SDK talks to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake

API_KEY = "sk_test_studioloop"
WEBHOOK_SECRET = "whsec_studioloop_test"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


class FakeStripe(ThreadedFake):
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.session_forms: dict[str, dict[str, str]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.account_links: list[dict[str, Any]] = []
        self._intent_keys: dict[str, dict[str, Any]] = {}
        self._transfer_keys: dict[str, dict[str, Any]] = {}
        self._by_idempotency_key: dict[str, str] = {}
        self.failures_left = 0  # answer this many requests with a 500 first
        super().__init__(
            [
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
                Route("/v1/transfers", self._create_transfer, methods=["POST"]),
                Route("/v1/payment_intents", self._create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{id}", self._get_intent, methods=["GET"]),
                Route("/v1/accounts", self._create_account, methods=["POST"]),
                Route("/v1/accounts/{id}", self._get_account, methods=["GET"]),
                Route("/v1/account_links", self._create_account_link, methods=["POST"]),
            ]
        )

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
            "customer": None,
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
        if session is not None:
            paid = int(session["amount_total"])
        elif intent in self.intents and self.intents[intent]["status"] == "succeeded":
            paid = int(self.intents[intent]["amount"])  # charged off-session
        else:
            return _error(404, f"No such payment_intent: '{intent}'")
        amount = int(form.get("amount", paid))
        refunded = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent)
        if refunded + amount > paid:
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

    def pay(self, session_id: str, card: str = "pm_card_visa") -> None:
        """The member pays on Stripe's page (with a card that a later off-session charge
        declines if it is `pm_card_chargeDeclined`, as with Stripe's test cards)."""
        session = self.sessions[session_id]
        form = self.session_forms[session_id]
        intent_id = f"pi_{uuid.uuid4().hex}"
        saves = form.get("payment_intent_data[setup_future_usage]") == "off_session"
        customer = f"cus_{uuid.uuid4().hex[:14]}" if form.get("customer_creation") else None
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "status": "succeeded",
            "customer": customer,
            "payment_method": f"pm_{uuid.uuid4().hex[:14]}" if card == "pm_card_visa" else card,
            "setup_future_usage": "off_session" if saves else None,
        }
        session.update(
            status="complete", payment_status="paid", payment_intent=intent_id, customer=customer
        )

    # --- off-session charges and Connect ------------------------------------------------

    async def _create_intent(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        key = request.headers.get("idempotency-key")
        if key and key in self._intent_keys:
            return JSONResponse(self._intent_keys[key])
        form = {k: str(v) for k, v in (await request.form()).items()}
        saved = next(
            (
                i
                for i in self.intents.values()
                if i["customer"] == form.get("customer")
                and i["payment_method"] == form.get("payment_method")
            ),
            None,
        )
        if saved is None:
            return _error(400, "No such PaymentMethod for this customer")
        intent_id = f"pi_{uuid.uuid4().hex}"
        declined = form["payment_method"] == "pm_card_chargeDeclined"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "status": "requires_payment_method" if declined else "succeeded",
            "customer": form["customer"],
            "payment_method": form["payment_method"],
            "off_session": form.get("off_session"),
            "transfer_data": form.get("transfer_data[destination]"),
            "application_fee_amount": form.get("application_fee_amount"),
        }
        self.intents[intent_id] = intent
        if declined:
            body = {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
            return JSONResponse(body, status_code=402)
        if key:
            self._intent_keys[key] = intent
        return JSONResponse(intent)

    async def _get_intent(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(404, "No such payment_intent")
        return JSONResponse(intent)

    async def _create_account(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        form = {k: str(v) for k, v in (await request.form()).items()}
        account_id = f"acct_{uuid.uuid4().hex[:16]}"
        self.accounts[account_id] = {
            "id": account_id,
            "object": "account",
            "type": form.get("type"),
            "country": form.get("country"),
            "email": form.get("email"),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
        }
        return JSONResponse(self.accounts[account_id])

    async def _get_account(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return _error(404, "No such account")
        return JSONResponse(account)

    async def _create_account_link(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return _error(401, "Invalid API Key provided")
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("account") not in self.accounts:
            return _error(400, "No such account")
        link = {
            "object": "account_link",
            "url": f"https://connect.stripe.test/setup/e/{form['account']}/{uuid.uuid4().hex}",
            "expires_at": int(time.time()) + 300,
            "refresh_url": form.get("refresh_url"),
            "return_url": form.get("return_url"),
        }
        self.account_links.append(link)
        return JSONResponse(link)

    def finish_onboarding(self, account_id: str) -> None:
        """The studio completes Stripe's onboarding forms."""
        self.accounts[account_id].update(
            charges_enabled=True, payouts_enabled=True, details_submitted=True
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
