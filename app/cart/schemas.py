"""Request and response schemas of the cart endpoints (contract §2.5)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from app.core.schemas import MoneyAmount, RequestSchema, WholeNumber


def _quantity_in_range(value: int) -> None:
    # Checked at request time: the per-line maximum is configuration.
    from app.cart.services import max_quantity_per_line, quantity_range_message

    if not 1 <= value <= max_quantity_per_line():
        raise ValidationError(quantity_range_message())


class CartQuantitySchema(RequestSchema):
    """Body of POST /cart/<product_id> and PUT /cart/<cart_product_id>; the storefront may
    send the quantity as a numeric string ("1")."""

    quantity = WholeNumber(
        required=True,
        validate=_quantity_in_range,
        error_messages={
            "invalid": "Quantity must be a whole number",
            "required": "Quantity is required",
            "null": "Quantity is required",
        },
    )


class CartProductSchema(Schema):
    id = fields.Integer()
    quantity = fields.Integer()
    product_id = fields.Integer()
    cart_id = fields.Integer()


class CartLineProductSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    price = MoneyAmount()
    stock = fields.Integer(
        metadata={"description": "Units still free for anybody: stock - reserved_stock"}
    )
    image_path = fields.String(allow_none=True)
    category_name = fields.String()


class CartLineSchema(Schema):
    cart_product = fields.Nested(CartProductSchema)
    product = fields.Nested(CartLineProductSchema)
