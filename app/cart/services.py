"""Cart rules shared with other domains."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from app.cart.models import Cart, CartProduct
from app.catalog.models import Product
from app.extensions import db


def create_cart(*, user_id: int) -> Cart:
    """Add an empty cart for a new user to the current transaction."""
    cart = Cart(user_id=user_id)
    db.session.add(cart)
    return cart


def release_cart_lines(*, cart_id: int) -> int:
    """Delete every line of the cart and give its reserved units back, in the caller's
    transaction. The lines are locked first, so a concurrent release cannot free the same
    units twice. Returns the number of lines released."""
    lines = db.session.execute(
        select(CartProduct.id, CartProduct.product_id, CartProduct.quantity)
        .where(CartProduct.cart_id == cart_id)
        .order_by(CartProduct.product_id)
        .with_for_update()
    ).all()
    if not lines:
        return 0
    for line in lines:
        db.session.execute(
            update(Product)
            .where(Product.id == line.product_id)
            .values(reserved_stock=Product.reserved_stock - line.quantity)
        )
    db.session.execute(delete(CartProduct).where(CartProduct.id.in_([line.id for line in lines])))
    return len(lines)
