"""Categories, products, their images and the featured list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, Money, UTCDateTime, utcnow


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Category names are unique whatever their case.
Index("uq_categories_name_lower", func.lower(Category.name), unique=True)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("reserved_stock >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved_stock <= stock", name="reserved_within_stock"),
        Index("ix_products_category_id", "category_id"),
        Index("ix_products_price", "price"),
        # Full-text search (PostgreSQL only): a GIN index over the search document. The
        # expression is written as PostgreSQL reports it back, so autogenerate sees no
        # difference; search_document() builds the same expression for queries.
        Index(
            "ix_products_search",
            text("to_tsvector('english'::regconfig, (name::text || ' '::text) || description)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    reserved_stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category] = relationship()
    image: Mapped[ProductImage | None] = relationship(
        back_populates="product", uselist=False, passive_deletes=True
    )


# The shop sorts names case-insensitively.
Index("ix_products_name_lower", func.lower(Product.name))

SEARCH_CONFIG = "english"


def search_document(name_column=None, description_column=None):
    """to_tsvector('english', name || ' ' || description), with constants inlined (not bound)
    so PostgreSQL matches it to ix_products_search."""
    name_column = Product.name if name_column is None else name_column
    description_column = Product.description if description_column is None else description_column
    document = name_column.op("||")(literal_column("' '")).op("||")(description_column)
    return func.to_tsvector(literal_column(f"'{SEARCH_CONFIG}'"), document)


class ProductImage(Base):
    """One image per product; `image_path` is "<bucket>/<object>"."""

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    image_path: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="image")


class FeaturedProduct(Base):
    """The home page's best sellers, in the order they were featured (id order)."""

    __tablename__ = "featured_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
