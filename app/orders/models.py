"""Checkout snapshots, orders, order items and processed Stripe events."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, Money, UTCDateTime, utcnow

# Order dates, months and the dashboard's calendar are those of the shop (UK).
SHOP_TIME_ZONE = ZoneInfo("Europe/London")


class OrderStatus(StrEnum):
    PROCESSING = "Processing"
    SHIPPED = "Shipped"
    DELIVERED = "Delivered"


class CheckoutStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"


class CheckoutSession(Base):
    """What the customer was asked to pay for: the cart lines, prices and address at the
    moment of checkout. The paid order is built from this, never from the live cart."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed', 'expired')", name="status_valid"),
        Index("ix_checkout_sessions_user_id", "user_id"),
        Index("ix_checkout_sessions_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=CheckoutStatus.OPEN)
    email: Mapped[str | None] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(100))
    address_line_1: Mapped[str] = mapped_column(String(100))
    address_line_2: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(20))
    # [{"product_id", "name", "unit_price" (string), "quantity"}]
    items: Mapped[list] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="gbp")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('Processing', 'Shipped', 'Delivered')", name="status_valid"),
        CheckConstraint("total_price >= 0", name="total_not_negative"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    checkout_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="SET NULL"), unique=True
    )
    stripe_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_email: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(100))
    address_line_1: Mapped[str] = mapped_column(String(100))
    address_line_2: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(20))
    # active_history: changing one of the three columns the order counters are keyed on or
    # add up loads the old value first, so the counters know which row to take it from.
    total_price: Mapped[Decimal] = mapped_column(Money, active_history=True)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PROCESSING, active_history=True)
    tracking_url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, active_history=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )


class OrderItem(Base):
    """A line of an order, with the product's name and unit price at purchase time."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_order_items_order_id", "order_id"),
        Index("ix_order_items_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")


class StripeEvent(Base):
    """Every webhook event we acted on, by Stripe's event id: a repeat does nothing twice."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderStat(Base):
    """Running totals of the orders of one calendar month (in the shop's time zone) and one
    status: how many there are and what they add up to, in pence. Every order write changes
    them in its own transaction (app/orders/stats.py), so the dashboard reads a few dozen of
    these rows instead of every order (docs/decisions/0008-order-counters.md)."""

    __tablename__ = "order_stats"

    # The first day of the month, in the shop's time zone.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue_pence: Mapped[int] = mapped_column(BigInteger, default=0)
