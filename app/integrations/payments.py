"""Stripe: Checkout Sessions and webhook signatures. The only module that imports stripe.

One StripeClient per application, built from configuration (STRIPE_API_KEY, STRIPE_API_BASE),
so tests point the real library at a local fake server. Everything leaves this module as
plain data (CheckoutSessionInfo), never as stripe objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import stripe
from flask import current_app

from app.core.errors import ErrorCode, ServiceUnavailable

log = logging.getLogger(__name__)

NOT_CONFIGURED_MESSAGE = "Payments are not available right now. Please try again later."


class PaymentsError(Exception):
    """Stripe refused or could not be reached."""


class WebhookSignatureError(Exception):
    """The webhook body or its Stripe-Signature header does not verify."""


@dataclass(frozen=True)
class CheckoutLine:
    name: str
    unit_amount: int  # pence
    quantity: int
    image_url: str | None = None


@dataclass(frozen=True)
class CheckoutSessionInfo:
    id: str
    status: str | None  # open | complete | expired
    payment_status: str | None  # paid | unpaid | no_payment_required
    amount_total: int | None
    currency: str | None
    customer_id: str | None
    customer_email: str | None
    metadata: dict = field(default_factory=dict)
    url: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


def _client() -> stripe.StripeClient:
    key = current_app.config.get("STRIPE_API_KEY")
    if not key:
        raise ServiceUnavailable(NOT_CONFIGURED_MESSAGE, code=ErrorCode.SERVICE_UNAVAILABLE)
    cached = current_app.extensions.get("stripe_client")
    if cached is None:
        cached = stripe.StripeClient(
            key,
            base_addresses={"api": current_app.config["STRIPE_API_BASE"]},
            max_network_retries=2,
        )
        current_app.extensions["stripe_client"] = cached
    return cached


def is_configured() -> bool:
    return bool(current_app.config.get("STRIPE_API_KEY"))


def session_info(data) -> CheckoutSessionInfo:
    """Plain data from a Checkout Session (a stripe object or the dict inside an event)."""
    if not isinstance(data, dict):
        data = data.to_dict()
    get = data.get
    details = get("customer_details") or {}
    email = details.get("email")
    metadata = get("metadata") or {}
    customer = get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return CheckoutSessionInfo(
        id=get("id"),
        status=get("status"),
        payment_status=get("payment_status"),
        amount_total=get("amount_total"),
        currency=get("currency"),
        customer_id=customer,
        customer_email=email or get("customer_email"),
        metadata=dict(metadata),
        url=get("url"),
    )


def create_checkout_session(
    *,
    lines: list[CheckoutLine],
    success_url: str,
    cancel_url: str,
    expires_at: datetime,
    metadata: dict[str, str],
    idempotency_key: str,
    customer_email: str | None = None,
    customer_id: str | None = None,
) -> CheckoutSessionInfo:
    """Create a Stripe Checkout Session with inline prices (one Stripe call)."""
    currency = current_app.config["STRIPE_CURRENCY"]
    params: dict = {
        "mode": "payment",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": currency,
                    "unit_amount": line.unit_amount,
                    "product_data": {"name": line.name, **({"images": [line.image_url]} if line.image_url else {})},
                },
            }
            for line in lines
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(expires_at.timestamp()),
        "metadata": {key: value for key, value in metadata.items() if value not in (None, "")},
    }
    if customer_id:
        params["customer"] = customer_id
    else:
        params["customer_creation"] = "always"
        if customer_email:
            params["customer_email"] = customer_email
    try:
        session = _client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as exc:
        log.error("stripe checkout session not created: %s", exc.__class__.__name__)
        raise PaymentsError(str(exc)) from exc
    return session_info(session)


def retrieve_session(session_id: str) -> CheckoutSessionInfo | None:
    """The session as Stripe sees it now; None when Stripe does not know the id."""
    try:
        return session_info(_client().v1.checkout.sessions.retrieve(session_id))
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as exc:
        raise PaymentsError(str(exc)) from exc


def expire_session(session_id: str) -> CheckoutSessionInfo:
    """Expire an open session so it can no longer be paid. If it was paid (or already
    expired) meanwhile, Stripe refuses; the session's current state is returned instead."""
    try:
        return session_info(_client().v1.checkout.sessions.expire(session_id))
    except stripe.InvalidRequestError:
        current = retrieve_session(session_id)
        if current is None:
            raise PaymentsError(f"unknown checkout session {session_id}") from None
        return current
    except stripe.StripeError as exc:
        raise PaymentsError(str(exc)) from exc


def list_recent_sessions(*, created_after: datetime, limit: int = 500) -> Iterator[CheckoutSessionInfo]:
    """Checkout Sessions created after `created_after`, newest first (follows pagination)."""
    params = {"limit": 100, "created": {"gte": int(created_after.timestamp())}}
    seen = 0
    try:
        while True:
            page = _client().v1.checkout.sessions.list(params=params)
            for session in page.data:
                yield session_info(session)
                seen += 1
                if seen >= limit:
                    return
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id
    except stripe.StripeError as exc:
        raise PaymentsError(str(exc)) from exc


def verify_webhook(payload: bytes, signature: str | None) -> dict:
    """The event in a webhook body, after checking its signature and timestamp against
    STRIPE_WEBHOOK_SECRET. Raises WebhookSignatureError."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ServiceUnavailable(NOT_CONFIGURED_MESSAGE)
    if not signature:
        raise WebhookSignatureError("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise WebhookSignatureError(str(exc)) from exc
    return event.to_dict()
