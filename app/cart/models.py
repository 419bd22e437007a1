"""Carts and their lines; each line's quantity is reserved on its product."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Cart(Base):
    __tablename__ = "carts"
    __table_args__ = (
        Index("ix_carts_last_added_at", "last_added_at"),
        Index("ix_carts_locked_at", "locked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while a checkout session is open; the cart cannot change under a payment.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class CartProduct(Base):
    """A cart line."""

    __tablename__ = "cart_products"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_cart_products_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
