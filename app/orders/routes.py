"""Checkout, the Stripe webhook and the customer's order history under /order (contract
§2.6, §4)."""

from __future__ import annotations

from flask import jsonify, request

from app.catalog.cache import CATALOG
from app.core.api import Blueprint
from app.core.response_cache import cached_response
from app.core.schemas import ErrorSchema, MessageSchema
from app.core.security import (
    account_required,
    any_auth_required,
    current_identity,
    load_current_user,
)
from app.orders import checkout, services
from app.orders.schemas import (
    CheckoutSchema,
    CheckoutStartedSchema,
    CustomerOrderArgsSchema,
    OrderPageSchema,
    SessionStatusArgsSchema,
    SessionStatusErrorSchema,
    SessionStatusSchema,
)
from app.orders.services import orders_of_tag

blp = Blueprint("order", __name__, url_prefix="/order", description="Checkout and orders")


@blp.route("/", methods=["GET"])
@account_required
@cached_response(
    CATALOG,
    per_caller=lambda: current_identity().user_id,
    tags=lambda **_: [orders_of_tag(current_identity().user_id)],
    kept_as="order_history",
)
@blp.arguments(CustomerOrderArgsSchema, location="query", as_kwargs=True)
@blp.response(200, OrderPageSchema)
def list_orders(page, per_page):
    """List the signed-in customer's orders, newest first, six per page."""
    return services.list_customer_orders(user_id=current_identity().user_id, page=page, per_page=per_page)


@blp.route("/checkout", methods=["POST"])
@any_auth_required
@blp.arguments(CheckoutSchema)
@blp.response(200, CheckoutStartedSchema)
@blp.alt_response(400, schema=ErrorSchema, description="No address, empty cart, stock or Stripe problem")
@blp.alt_response(503, schema=ErrorSchema, description="Payments are not configured")
def start_checkout(data):
    """Lock the cart and open a Stripe Checkout Session for it."""
    session_id = checkout.start_checkout(
        user=load_current_user(),
        address=checkout.CheckoutAddress(
            full_name=data["full_name"],
            address_line_1=data["address_line_1"],
            address_line_2=data["address_line_2"],
            city=data["city"],
            postcode=data["postcode"],
        ),
    )
    return {"session_id": session_id}


@blp.route("/stripe_session_status", methods=["GET"])
@any_auth_required
@blp.arguments(SessionStatusArgsSchema, location="query", as_kwargs=True)
@blp.response(200, SessionStatusSchema)
@blp.alt_response(400, schema=SessionStatusErrorSchema, description="No order (yet) for this session")
def session_status(session_id):
    """Say whether the caller's order for a Stripe session exists (completing it if paid)."""
    if not session_id:
        body = {"success": False, "message": "No session id provided", "error": "No session id provided", "code": "no_session_id"}
        return jsonify(body), 400
    if checkout.confirm_session_for_user(user_id=current_identity().user_id, session_id=session_id):
        return {"success": True, "message": "Order found"}
    body = {"success": False, "message": "Order not found", "error": "Order not found", "code": "order_not_found"}
    return jsonify(body), 400


@blp.route("/webhook", methods=["POST"])
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Bad signature or payload")
def stripe_webhook():
    """Receive Stripe events (signature checked on the raw body)."""
    message = services.handle_webhook(
        payload=request.get_data(cache=False), signature=request.headers.get("Stripe-Signature")
    )
    return {"message": message}
