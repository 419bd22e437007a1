"""Cart endpoints under /cart (contract §2.5). On /cart/<n>, n is a product id for POST and a
cart-line id for PUT and DELETE."""

from __future__ import annotations

from flask import current_app, jsonify, request

from app.cart import services
from app.cart.schemas import CartLineSchema, CartProductSchema, CartQuantitySchema
from app.core.api import Blueprint
from app.core.errors import InvalidToken
from app.core.request_info import client_address
from app.core.schemas import ErrorSchema, MessageSchema
from app.core.security import any_auth_required, current_identity
from app.extensions import limiter

blp = Blueprint("cart", __name__, url_prefix="/cart", description="The shopper's cart")
_LINE_SCHEMA = CartProductSchema()


def _shopper_or_none():
    """The caller's identity, or None when the request carries no token at all. A request
    with a bad access token, or with only a refresh cookie, belongs to somebody whose session
    needs a refresh: it gets 401 rather than silently becoming a new guest."""
    identity = current_identity(optional=True)
    if identity is None and request.cookies.get(current_app.config["JWT_REFRESH_COOKIE_NAME"]):
        raise InvalidToken()
    return identity


@blp.route("/", methods=["GET"])
@any_auth_required
@blp.response(200, CartLineSchema(many=True))
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def get_cart():
    """List the cart's lines, newest first, with the units still free of each product."""
    return services.get_cart_lines(user_id=current_identity().user_id)


def _carries_a_login() -> bool:
    """Requests with an auth cookie never create a guest, so only the others count against
    GUEST_RATE_LIMIT."""
    cookies = request.cookies
    config = current_app.config
    return bool(cookies.get(config["JWT_ACCESS_COOKIE_NAME"]) or cookies.get(config["JWT_REFRESH_COOKIE_NAME"]))


@blp.route("/<int:product_id>", methods=["POST"])
@limiter.limit(
    lambda: current_app.config["GUEST_RATE_LIMIT"],
    key_func=client_address,
    scope="GUEST_RATE_LIMIT:address",
    exempt_when=_carries_a_login,
)
@blp.arguments(CartQuantitySchema)
@blp.response(200, CartProductSchema)
@blp.alt_response(
    400, schema=ErrorSchema, description="Unknown product, out of stock or bad quantity"
)
@blp.alt_response(401, schema=ErrorSchema, description="Access token present but unusable")
def add_to_cart(data, product_id):
    """Put a product in the cart (replacing its quantity); creates a guest when signed out."""
    shopper = _shopper_or_none()
    result = services.add_to_cart(
        user_id=shopper.user_id if shopper is not None else None,
        product_id=product_id,
        quantity=data["quantity"],
    )
    response = jsonify(_LINE_SCHEMA.dump(result.line))
    if result.guest_tokens is not None:
        result.guest_tokens.set_cookies(response)
    return response


@blp.route("/<int:cart_product_id>", methods=["PUT"])
@any_auth_required
@blp.arguments(CartQuantitySchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Unknown line, out of stock or bad quantity")
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def update_cart_line(data, cart_product_id):
    """Change the quantity of one of the caller's cart lines."""
    services.update_cart_line(
        user_id=current_identity().user_id, cart_product_id=cart_product_id, quantity=data["quantity"]
    )
    return {"message": "Product quantity updated successfully"}


@blp.route("/<int:cart_product_id>", methods=["DELETE"])
@any_auth_required
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Unknown line")
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def remove_cart_line(cart_product_id):
    """Remove one of the caller's cart lines and release its units."""
    services.remove_cart_line(user_id=current_identity().user_id, cart_product_id=cart_product_id)
    return {"message": "Product deleted from cart successfully"}
