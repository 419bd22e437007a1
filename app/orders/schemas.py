"""Schemas of checkout, order history and the admin's order endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.core.pagination import PageArgsSchema, envelope_schema
from app.core.schemas import (
    ErrorSchema,
    LenientRequestSchema,
    MoneyAmount,
    RequestSchema,
    TrimmedString,
)
from app.orders.models import OrderStatus

STATUS_VALUES = [status.value for status in OrderStatus]


class CheckoutSchema(LenientRequestSchema):
    """The chosen address (the storefront strips id and is_default, but may send them)."""

    full_name = TrimmedString(load_default="", validate=validate.Length(max=100))
    address_line_1 = TrimmedString(load_default="", validate=validate.Length(max=100))
    address_line_2 = TrimmedString(load_default=None, allow_none=True, validate=validate.Length(max=100))
    city = TrimmedString(load_default="", validate=validate.Length(max=100))
    postcode = TrimmedString(load_default="", validate=validate.Length(max=20))


class CheckoutStartedSchema(Schema):
    session_id = fields.String(required=True)


class SessionStatusArgsSchema(LenientRequestSchema):
    session_id = fields.String(load_default=None, validate=validate.Length(max=255))


class SessionStatusSchema(Schema):
    success = fields.Boolean()
    message = fields.String()


class SessionStatusErrorSchema(ErrorSchema):
    """No order (yet): the storefront reads success and message, other clients our error
    fields; invalid query arguments get the plain error body."""

    error = fields.String()
    success = fields.Boolean()
    message = fields.String()


class CustomerOrderArgsSchema(PageArgsSchema):
    DEFAULT_PER_PAGE = 6
    MAX_PER_PAGE = 50


class AdminOrderArgsSchema(PageArgsSchema):
    DEFAULT_PER_PAGE = 10
    MAX_PER_PAGE = 50

    # An empty value means "all", as when the parameter is absent.
    status = fields.String(
        load_default=None,
        validate=validate.OneOf([*STATUS_VALUES, ""], error="Invalid order status"),
    )


class OrderSchema(Schema):
    id = fields.Integer()
    order_date = fields.String()
    total_price = MoneyAmount()
    status = fields.String()
    full_name = fields.String()
    address_line_1 = fields.String()
    address_line_2 = fields.String(allow_none=True)
    city = fields.String()
    postcode = fields.String()
    customer_email = fields.String(allow_none=True)
    tracking_url = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)


class OrderItemSchema(Schema):
    quantity = fields.Integer()
    name = fields.String()
    price = MoneyAmount()
    product_image = fields.String(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    order_id = fields.Integer()


class OrderWithItemsSchema(Schema):
    order = fields.Nested(OrderSchema)
    order_items = fields.List(fields.Nested(OrderItemSchema))


class AdminOrderDetailSchema(OrderWithItemsSchema):
    customer_name = fields.String(allow_none=True)


class AdminOrderRowSchema(Schema):
    id = fields.Integer()
    order_date = fields.String()
    total_price = MoneyAmount()
    status = fields.String()
    full_name = fields.String()


class OrderStatusUpdateSchema(RequestSchema):
    status = fields.String(
        required=True, validate=validate.OneOf(STATUS_VALUES, error="Invalid order status")
    )
    tracking_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


OrderPageSchema = envelope_schema("OrderPage", "orders", OrderWithItemsSchema)
AdminOrderPageSchema = envelope_schema("AdminOrderPage", "orders", AdminOrderRowSchema)
