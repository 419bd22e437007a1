"""A local stand-in for the parts of Stripe's API the shop uses, reached by the real stripe
library through STRIPE_API_BASE: create, retrieve, expire and list Checkout Sessions, with
idempotency keys honoured as Stripe does. Tests mark sessions paid or expired and build
webhook events signed exactly as Stripe signs them (HMAC-SHA256 over "<t>.<body>")."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.support.local_http import LocalHttpService

API_KEY = "sk_test_fake_shop_key"
WEBHOOK_SECRET = "whsec_fake_shop_secret"


def _unflatten(pairs: list[tuple[str, str]]) -> dict:
    """Turn Stripe's form encoding (a[b][0][c]=v) back into nested data."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


class FakeStripe(LocalHttpService):
    def __init__(self):
        self.sessions: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[str, dict]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next_create = False
        self.offline = False
        self._lock = threading.Lock()

    # --- server ----------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _reply(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, message: str, kind: str = "invalid_request_error"):
                self._reply(status, {"error": {"type": kind, "message": message}})

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._error(401, "Invalid API Key provided", "authentication_error")
                    return False
                return True

            def do_GET(self):
                fake.calls.append(("GET", self.path))
                if fake.offline:
                    return self._error(500, "unavailable", "api_error")
                if not self._authorised():
                    return
                url = urlsplit(self.path)
                query = _unflatten(parse_qsl(url.query))
                match = re.fullmatch(r"/v1/checkout/sessions/([\w-]+)", url.path)
                if match:
                    session = fake.sessions.get(match.group(1))
                    if session is None:
                        return self._error(404, f"No such checkout.session: '{match.group(1)}'")
                    return self._reply(200, session)
                if url.path == "/v1/checkout/sessions":
                    return self._reply(200, fake._list(query))
                return self._error(404, "Unrecognized request URL")

            def do_POST(self):
                fake.calls.append(("POST", self.path))
                if fake.offline:
                    return self._error(500, "unavailable", "api_error")
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                params = _unflatten(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                path = urlsplit(self.path).path
                if path == "/v1/checkout/sessions":
                    key = self.headers.get("Idempotency-Key")
                    status, body = fake._create(params, key)
                    return self._reply(status, body)
                match = re.fullmatch(r"/v1/checkout/sessions/([\w-]+)/expire", path)
                if match:
                    status, body = fake._expire_request(match.group(1))
                    return self._reply(status, body)
                return self._error(404, "Unrecognized request URL")

        self._serve(Handler)
        return self

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.idempotent.clear()
            self.calls.clear()
            self.fail_next_create = False
            self.offline = False

    # --- behaviour -------------------------------------------------------------------------

    def _create(self, params: dict, key: str | None) -> tuple[int, dict]:
        with self._lock:
            if key and key in self.idempotent:
                previous_params, session_id = self.idempotent[key]
                if previous_params != params:
                    return 400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}
                return 200, self.sessions[session_id]
            if self.fail_next_create:
                self.fail_next_create = False
                return 402, {"error": {"type": "card_error", "message": "Your account cannot currently make live charges."}}
            for required in ("mode", "line_items", "success_url", "cancel_url"):
                if required not in params:
                    return 400, {"error": {"type": "invalid_request_error", "message": f"Missing required param: {required}."}}
            if "expires_at" in params and int(params["expires_at"]) < time.time() + 1800:
                return 400, {"error": {"type": "invalid_request_error", "message": "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."}}
            amount = 0
            for item in params["line_items"]:
                price = item["price_data"]
                amount += int(price["unit_amount"]) * int(item["quantity"])
            session_id = "cs_test_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "checkout.session",
                "created": int(time.time()),
                "expires_at": int(params.get("expires_at", time.time() + 1800)),
                "mode": params["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": amount,
                "amount_subtotal": amount,
                "currency": params["line_items"][0]["price_data"]["currency"],
                "customer": params.get("customer"),
                "customer_email": params.get("customer_email"),
                "customer_details": None,
                "metadata": params.get("metadata", {}),
                "success_url": params["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
                "cancel_url": params["cancel_url"],
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                "line_items_sent": params["line_items"],
            }
            self.sessions[session_id] = session
            if key:
                self.idempotent[key] = (params, session_id)
            return 200, session

    def _expire_request(self, session_id: str) -> tuple[int, dict]:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return 404, {"error": {"type": "invalid_request_error", "message": f"No such checkout.session: '{session_id}'"}}
            if session["status"] != "open":
                return 400, {"error": {"type": "invalid_request_error", "message": f"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{session['status']}\"."}}
            session["status"] = "expired"
            return 200, session

    def _list(self, query: dict) -> dict:
        sessions = sorted(self.sessions.values(), key=lambda s: (s["created"], s["id"]), reverse=True)
        created = query.get("created", {})
        if isinstance(created, dict) and "gte" in created:
            sessions = [s for s in sessions if s["created"] >= int(created["gte"])]
        if "starting_after" in query:
            ids = [s["id"] for s in sessions]
            sessions = sessions[ids.index(query["starting_after"]) + 1:] if query["starting_after"] in ids else []
        limit = int(query.get("limit", 10))
        return {"object": "list", "url": "/v1/checkout/sessions", "data": sessions[:limit], "has_more": len(sessions) > limit}

    # --- what tests do ---------------------------------------------------------------------

    def pay(self, session_id: str, *, email: str = "buyer@example.com", customer: str = "cus_test_1", amount_total: int | None = None) -> dict:
        """The customer paid on Stripe's page."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["status"] == "open", f"cannot pay a {session['status']} session"
            session.update(
                status="complete",
                payment_status="paid",
                customer=session.get("customer") or customer,
                customer_details={"email": email, "name": "Paying Customer"},
            )
            if amount_total is not None:
                session["amount_total"] = amount_total
            return dict(session)

    def expire(self, session_id: str) -> dict:
        """Stripe expired the session (time ran out)."""
        with self._lock:
            session = self.sessions[session_id]
            session["status"] = "expired"
            return dict(session)

    def latest_session(self) -> dict:
        return max(self.sessions.values(), key=lambda s: (s["created"], len(self.calls)))

    @staticmethod
    def event(event_type: str, session: dict, *, event_id: str | None = None) -> dict:
        return {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2026-10-28.endive",
            "data": {"object": session},
        }

    @staticmethod
    def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{timestamp}.".encode() + payload
        signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={signature}"

    def webhook(self, event: dict, **sign_kwargs) -> tuple[bytes, dict]:
        """The body and headers Stripe would POST to /order/webhook."""
        payload = json.dumps(event).encode()
        headers = {"Stripe-Signature": self.sign(payload, **sign_kwargs), "Content-Type": "application/json"}
        return payload, headers
