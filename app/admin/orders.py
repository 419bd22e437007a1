"""Admin order endpoints (contract §2.7.4–§2.7.7). The admin blueprint's guard has already
checked the role."""

from __future__ import annotations

from app.admin.routes import blp
from app.auth.tokens import ACCOUNT_NAMES_TAG, ACCOUNTS_TAG
from app.catalog.cache import CATALOG
from app.core.response_cache import cached_response
from app.core.schemas import ErrorSchema, MessageSchema
from app.orders import services
from app.orders.schemas import (
    AdminOrderArgsSchema,
    AdminOrderDetailSchema,
    AdminOrderPageSchema,
    CustomerOrderArgsSchema,
    OrderPageSchema,
    OrderStatusUpdateSchema,
)
from app.orders.services import order_tag


@blp.route("/order/admin", methods=["GET"])
@blp.arguments(AdminOrderArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AdminOrderPageSchema)
def list_orders(page, per_page, status):
    """List every order newest first, ten per page, optionally of one status."""
    return services.list_orders_for_admin(page=page, per_page=per_page, status=status)


@blp.route("/order/admin/<int:order_id>", methods=["GET"])
@cached_response(
    CATALOG,
    tags=lambda order_id: [order_tag(order_id), ACCOUNTS_TAG, ACCOUNT_NAMES_TAG],
    kept_as="admin_order",
)
@blp.response(200, AdminOrderDetailSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Order not found")
def get_order(order_id):
    """Show one order with its items and the customer's name."""
    return services.get_order_for_admin(order_id=order_id)


@blp.route("/order/admin/<int:order_id>", methods=["PUT"])
@blp.arguments(OrderStatusUpdateSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Invalid status, transition or tracking link")
def update_order(data, order_id):
    """Mark an order shipped (with a tracking link; emails the customer) or delivered."""
    services.update_order_status(order_id=order_id, status=data["status"], tracking_url=data["tracking_url"])
    return {"message": "Order status updated successfully"}


@blp.route("/order/admin/user/<int:user_id>", methods=["GET"])
@blp.arguments(CustomerOrderArgsSchema, location="query", as_kwargs=True)
@blp.response(200, OrderPageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="User not found")
def list_user_orders(user_id, page, per_page):
    """List one user's orders, newest first, six per page."""
    return services.list_user_orders_for_admin(user_id=user_id, page=page, per_page=per_page)
