"""Every model of the shop, imported in one place so the metadata (and Alembic) sees them all."""

from app.addresses.models import Address
from app.admin.models import AuditEntry
from app.auth.models import AuthSession, Role, User
from app.cart.models import Cart, CartProduct
from app.catalog.models import Category, FeaturedProduct, Product, ProductImage
from app.emails.models import OutboxEmail
from app.orders import stats  # noqa: F401  (keeps the order counters with every order write)
from app.orders.models import (
    CheckoutSession,
    CheckoutStatus,
    Order,
    OrderItem,
    OrderStat,
    OrderStatus,
    StripeEvent,
)

__all__ = [
    "Address",
    "AuditEntry",
    "AuthSession",
    "Cart",
    "CartProduct",
    "Category",
    "CheckoutSession",
    "CheckoutStatus",
    "FeaturedProduct",
    "Order",
    "OrderItem",
    "OrderStat",
    "OrderStatus",
    "OutboxEmail",
    "Product",
    "ProductImage",
    "Role",
    "StripeEvent",
    "User",
]
