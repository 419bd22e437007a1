"""Catalogue rules: categories, products, product images and the featured list.

Public reads go through the version-keyed cache (app.catalog.cache) and return plain,
picklable data; the product detail, which shows reserved stock, is always read fresh.
Writes own their transaction (commit on success, rollback on error) and, after the commit,
make cached reads obsolete with bump_catalog_version(). Stored image objects are removed
only after the database no longer refers to them, and a failed removal never fails the
request (the object is merely orphaned and logged).

Every list runs a constant number of statements whatever its page size: a count through a
subquery and the page itself, with category names and image paths joined in.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, exists, func, literal_column, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from app.admin import audit
from app.catalog.cache import bump_catalog_version, cached_read
from app.catalog.errors import CatalogErrorCode
from app.catalog.images import clean_image, object_name
from app.catalog.models import (
    SEARCH_CONFIG,
    Category,
    FeaturedProduct,
    Product,
    ProductImage,
    search_document,
)
from app.core.db import committing, is_row_id, utcnow
from app.core.errors import AppError, ErrorCode, NotFound
from app.core.pagination import paginate
from app.extensions import db
from app.integrations.storage import StorageError, delete_quietly, get_storage

log = logging.getLogger(__name__)

__all__ = [
    "MAX_FEATURED",
    "bump_catalog_version",
    "create_category",
    "create_product",
    "delete_category",
    "delete_product",
    "feature_product",
    "get_category",
    "get_featured_entry",
    "get_product",
    "get_product_image",
    "list_admin_categories",
    "list_admin_products",
    "list_categories",
    "list_featured_products",
    "list_shop_products",
    "rename_category",
    "set_product_image",
    "unfeature_product",
    "update_product",
]

MAX_FEATURED = 4
# Serialises "count the featured entries, then add one" across processes (PostgreSQL).
FEATURED_LOCK_ID = 7_246_002

# Contract §2.4.1: the storefront's labels. Anything else is the default, newest first.
SORT_NAME_ASC = "Name (A-Z)"
SORT_NAME_DESC = "Name (Z-A)"
SORT_PRICE_ASC = "Price (Low to High)"
SORT_PRICE_DESC = "Price (High to Low)"
SORT_OPTIONS = (SORT_NAME_ASC, SORT_NAME_DESC, SORT_PRICE_ASC, SORT_PRICE_DESC)

_UNSET: Any = object()


def _category_not_found() -> NotFound:
    return NotFound("Category not found", code=CatalogErrorCode.CATEGORY_NOT_FOUND)


def _product_not_found() -> NotFound:
    return NotFound("Product not found", code=CatalogErrorCode.PRODUCT_NOT_FOUND)



def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _violated_constraint(exc: IntegrityError) -> str:
    """The name of the constraint an IntegrityError broke ('' when unknown)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return name
    message = str(exc.orig).lower()
    if "foreign key" in message:
        return "foreign_key"
    if "unique" in message:
        return "unique"
    for known in ("reserved_within_stock", "stock_not_negative", "price_positive"):
        if known in message:
            return known
    return ""


# --- public reads --------------------------------------------------------------------------------


def list_categories() -> list[dict]:
    """Every category, in id order (cached)."""

    def load():
        rows = db.session.execute(select(Category.id, Category.name).order_by(Category.id))
        return [dict(row._mapping) for row in rows]

    return cached_read("categories", {}, load)


def get_category(*, category_id: int) -> dict:
    """One category (cached); NotFound when there is none."""
    if not is_row_id(category_id):
        raise _category_not_found()

    def load():
        row = db.session.execute(
            select(Category.id, Category.name).where(Category.id == category_id)
        ).first()
        if row is None:
            raise _category_not_found()
        return dict(row._mapping)

    return cached_read("category", {"id": category_id}, load)


def _search_terms(q: str | None) -> str | None:
    q = (q or "").strip()
    return q or None


def _search_condition(q: str):
    if _dialect() == "postgresql":
        query = func.websearch_to_tsquery(literal_column(f"'{SEARCH_CONFIG}'"), q)
        return search_document().op("@@")(query), func.ts_rank(search_document(), query)
    # SQLite (embedded default): every word must appear in the name or the description.
    conditions = []
    for word in q.split()[:10]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                Product.name.ilike(pattern, escape="\\"),
                Product.description.ilike(pattern, escape="\\"),
            )
        )
    return (conditions[0] if len(conditions) == 1 else and_(*conditions)), None


def _shop_order(sort_by: str | None, rank):
    if sort_by == SORT_NAME_ASC:
        return [func.lower(Product.name).asc(), Product.id.desc()]
    if sort_by == SORT_NAME_DESC:
        return [func.lower(Product.name).desc(), Product.id.desc()]
    if sort_by == SORT_PRICE_ASC:
        return [Product.price.asc(), Product.id.desc()]
    if sort_by == SORT_PRICE_DESC:
        return [Product.price.desc(), Product.id.desc()]
    if rank is not None:
        return [rank.desc(), Product.id.desc()]
    return [Product.id.desc()]


def _shop_columns():
    return (
        Product.id,
        Product.name,
        Product.price,
        Category.name.label("category_name"),
        ProductImage.image_path,
    )


def _with_category_and_image(statement):
    return statement.join(Category, Category.id == Product.category_id).outerjoin(
        ProductImage, ProductImage.product_id == Product.id
    )


def list_shop_products(
    *,
    page: int,
    per_page: int,
    category_id: int | None = None,
    sort_by: str | None = None,
    q: str | None = None,
) -> dict:
    """The shop's page of in-stock products (`stock > 0`) as the contract's envelope
    (cached). Two statements on a miss: the count and the page."""
    q = _search_terms(q)
    sort_key = sort_by if sort_by in SORT_OPTIONS else None
    params = {"page": page, "per_page": per_page, "category": category_id, "sort": sort_key, "q": q}

    def load():
        conditions = [Product.stock > 0]
        if category_id is not None:
            conditions.append(Product.category_id == category_id)
        rank = None
        if q is not None:
            condition, rank = _search_condition(q)
            conditions.append(condition)
        count_statement = select(Product.id).where(*conditions)
        statement = _with_category_and_image(select(*_shop_columns())).where(*conditions)
        statement = statement.order_by(*_shop_order(sort_key, rank))
        result = paginate(statement, page=page, per_page=per_page, count_statement=count_statement)
        return result.envelope("products", [dict(row._mapping) for row in result.items])

    return cached_read("products", params, load)


def get_product(*, product_id: int) -> Product:
    """One product with its raw stock and reservations; read fresh (one statement)."""
    product = db.session.get(Product, product_id) if is_row_id(product_id) else None
    if product is None:
        raise _product_not_found()
    return product


def get_product_image(*, product_id: int) -> dict:
    """`{"image_path", "product_id"}` of a product's image (cached)."""
    if not is_row_id(product_id):
        raise _product_not_found()

    def load():
        row = db.session.execute(
            select(Product.id, ProductImage.image_path)
            .outerjoin(ProductImage, ProductImage.product_id == Product.id)
            .where(Product.id == product_id)
        ).first()
        if row is None:
            raise _product_not_found()
        if row.image_path is None:
            raise NotFound("No product image found", code=CatalogErrorCode.PRODUCT_IMAGE_NOT_FOUND)
        return {"image_path": row.image_path, "product_id": row.id}

    return cached_read("product_image", {"id": product_id}, load)


def list_featured_products() -> list[dict]:
    """The featured products that are in stock, in featuring order (cached, one statement).
    Raises when there is none, so the home page hides its section (contract §2.4.4)."""

    def load():
        statement = (
            _with_category_and_image(select(*_shop_columns()))
            .join(FeaturedProduct, FeaturedProduct.product_id == Product.id)
            .where(Product.stock > 0)
            .order_by(FeaturedProduct.id)
            .limit(MAX_FEATURED)
        )
        return [dict(row._mapping) for row in db.session.execute(statement)]

    products = cached_read("featured", {}, load)
    if not products:
        raise AppError("No featured products found", code=CatalogErrorCode.NO_FEATURED_PRODUCTS)
    return products


# --- admin: categories ---------------------------------------------------------------------------


def list_admin_categories(*, page: int, per_page: int) -> dict:
    """Categories newest first, as the envelope (not cached: admins see the database)."""
    statement = select(Category.id, Category.name).order_by(Category.id.desc())
    result = paginate(statement, page=page, per_page=per_page)
    return result.envelope("categories", [dict(row._mapping) for row in result.items])


def _name_taken(name: str, *, except_id: int | None = None) -> bool:
    condition = func.lower(Category.name) == func.lower(name)
    if except_id is not None:
        condition = condition & (Category.id != except_id)
    return bool(db.session.scalar(select(exists().where(condition))))


def _name_taken_error() -> AppError:
    return AppError(
        "Category with the provided name already exists",
        code=CatalogErrorCode.CATEGORY_NAME_TAKEN,
    )


def create_category(*, name: str) -> Category:
    """Add a category (names are unique whatever their case). Side effects: one row,
    catalogue cache version bumped."""
    try:
        with committing():
            if _name_taken(name):
                raise _name_taken_error()
            category = Category(name=name)
            db.session.add(category)
            db.session.flush()
            audit.record(action="create", object_type="category", object_id=category.id, after={"name": name})
    except IntegrityError:
        raise _name_taken_error() from None
    bump_catalog_version()
    return category


def rename_category(*, category_id: int, name: str) -> Category:
    """Change a category's name (unique whatever its case; the category's own name in
    another case is fine). Side effects: the row, catalogue cache version bumped."""
    try:
        with committing():
            category = db.session.get(Category, category_id) if is_row_id(category_id) else None
            if category is None:
                raise _category_not_found()
            if _name_taken(name, except_id=category_id):
                raise _name_taken_error()
            audit.record(
                action="update", object_type="category", object_id=category_id,
                before={"name": category.name}, after={"name": name},
            )
            category.name = name
    except IntegrityError:
        raise _name_taken_error() from None
    bump_catalog_version()
    return category


def delete_category(*, category_id: int) -> None:
    """Delete a category with all its products, their images, featured entries and cart
    lines (database cascades); order items keep their name and price with product_id
    cleared. Side effects: rows deleted, cache version bumped, then the image objects
    removed from storage (best effort)."""
    with committing():
        found = (
            db.session.scalar(
                select(Category.name).where(Category.id == category_id).with_for_update()
            )
            if is_row_id(category_id)
            else None
        )
        if found is None:
            raise _category_not_found()
        audit.record(action="delete", object_type="category", object_id=category_id, before={"name": found})
        # Lock the products so no image is replaced between reading the paths and deleting.
        db.session.execute(
            select(Product.id).where(Product.category_id == category_id).with_for_update()
        ).all()
        image_paths = list(
            db.session.scalars(
                select(ProductImage.image_path)
                .join(Product, Product.id == ProductImage.product_id)
                .where(Product.category_id == category_id)
            )
        )
        db.session.execute(delete(Category).where(Category.id == category_id))
    bump_catalog_version()
    delete_quietly(image_paths)


# --- admin: products -----------------------------------------------------------------------------


def list_admin_products(*, page: int, per_page: int, category_id: int | None = None) -> dict:
    """Every product, out-of-stock ones too, newest first (not cached)."""
    statement = select(
        Product.id, Product.name, Product.price, Product.stock, Product.reserved_stock
    ).order_by(Product.id.desc())
    if category_id is not None:
        statement = statement.where(Product.category_id == category_id)
    result = paginate(statement, page=page, per_page=per_page)
    return result.envelope("products", [dict(row._mapping) for row in result.items])


def _require_category(category_id: int) -> None:
    if not is_row_id(category_id) or not db.session.scalar(
        select(exists().where(Category.id == category_id))
    ):
        raise _category_not_found()


def _product_integrity_error(exc: IntegrityError) -> AppError:
    constraint = _violated_constraint(exc)
    if "category" in constraint or constraint == "foreign_key":
        return _category_not_found()
    if "reserved_within_stock" in constraint:
        return AppError(
            "Stock cannot be less than the reserved stock",
            code=CatalogErrorCode.STOCK_BELOW_RESERVED,
        )
    log.warning("product write refused by constraint %r", constraint)
    return AppError("Invalid product data", code=ErrorCode.VALIDATION)


def create_product(
    *, name: str, description: str, price: Decimal, stock: int, category_id: int
) -> Product:
    """Add a product with nothing reserved. Side effects: one row, cache version bumped."""
    try:
        with committing():
            _require_category(category_id)
            product = Product(
                name=name,
                description=description,
                price=price,
                stock=stock,
                reserved_stock=0,
                category_id=category_id,
            )
            db.session.add(product)
            db.session.flush()
            audit.record(
                action="create", object_type="product", object_id=product.id,
                after={"name": name, "description": description, "price": price, "stock": stock, "category_id": category_id},
            )
    except IntegrityError as exc:
        raise _product_integrity_error(exc) from None
    bump_catalog_version()
    return product


def update_product(
    *,
    product_id: int,
    name: str = _UNSET,
    description: str = _UNSET,
    price: Decimal = _UNSET,
    stock: int = _UNSET,
    category_id: int = _UNSET,
) -> None:
    """Change the given editable fields. The new stock is checked against the reservations
    in the same single UPDATE (`... WHERE reserved_stock <= :stock`), so a concurrent
    add-to-cart cannot slip in between a check and the write. Side effects: the row, cache
    version bumped."""
    values = {
        key: value
        for key, value in (
            ("name", name),
            ("description", description),
            ("price", price),
            ("stock", stock),
            ("category_id", category_id),
        )
        if value is not _UNSET
    }
    if not values:
        raise AppError("No data provided", code=ErrorCode.NO_DATA)
    try:
        with committing():
            current = (
                db.session.execute(
                    select(*(getattr(Product, field) for field in values))
                    .where(Product.id == product_id)
                    .with_for_update()
                ).first()
                if is_row_id(product_id)
                else None
            )
            if current is None:
                raise _product_not_found()
            audit.record(
                action="update", object_type="product", object_id=product_id,
                before=dict(zip(values, current, strict=True)), after=values,
            )
            if "category_id" in values:
                _require_category(values["category_id"])
            statement = update(Product).where(Product.id == product_id)
            if "stock" in values:
                statement = statement.where(Product.reserved_stock <= values["stock"])
            result = db.session.execute(
                statement.values(**values).execution_options(synchronize_session=False)
            )
            if result.rowcount == 0:
                still_there = db.session.scalar(select(exists().where(Product.id == product_id)))
                if not still_there:
                    raise _product_not_found()
                raise AppError(
                    "Stock cannot be less than the reserved stock",
                    code=CatalogErrorCode.STOCK_BELOW_RESERVED,
                )
    except IntegrityError as exc:
        raise _product_integrity_error(exc) from None
    bump_catalog_version()


def delete_product(*, product_id: int) -> None:
    """Delete a product with its image row, featured entry and cart lines (cascades);
    order items keep their name and price with product_id cleared. Side effects: rows
    deleted, cache version bumped, then the image object removed (best effort)."""
    with committing():
        found = (
            db.session.execute(
                select(Product.name, Product.price, Product.stock, Product.category_id)
                .where(Product.id == product_id)
                .with_for_update()
            ).first()
            if is_row_id(product_id)
            else None
        )
        if found is None:
            raise _product_not_found()
        audit.record(action="delete", object_type="product", object_id=product_id, before=dict(found._mapping))
        image_path = db.session.scalar(
            select(ProductImage.image_path).where(ProductImage.product_id == product_id)
        )
        db.session.execute(delete(Product).where(Product.id == product_id))
    bump_catalog_version()
    delete_quietly([image_path])


# --- admin: featured products --------------------------------------------------------------------


def get_featured_entry(*, product_id: int) -> FeaturedProduct:
    """The featured entry of a product; AppError when it is not featured."""
    entry = (
        db.session.scalar(select(FeaturedProduct).where(FeaturedProduct.product_id == product_id))
        if is_row_id(product_id)
        else None
    )
    if entry is None:
        raise AppError("Product is not featured", code=CatalogErrorCode.NOT_FEATURED)
    return entry


def _lock_featured_list() -> None:
    if _dialect() == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEATURED_LOCK_ID})


def feature_product(*, product_id: int) -> FeaturedProduct:
    """Add a product to the featured list (at most MAX_FEATURED entries). Concurrent calls
    are serialised by a transaction-scoped lock, so the limit holds under races. Side
    effects: one row, cache version bumped."""
    try:
        with committing():
            if not is_row_id(product_id):
                raise _product_not_found()
            _lock_featured_list()
            if not db.session.scalar(select(exists().where(Product.id == product_id))):
                raise _product_not_found()
            if db.session.scalar(select(exists().where(FeaturedProduct.product_id == product_id))):
                raise AppError("Product is already featured", code=CatalogErrorCode.ALREADY_FEATURED)
            count = db.session.scalar(select(func.count()).select_from(FeaturedProduct))
            if count >= MAX_FEATURED:
                raise AppError(
                    f"There are already {MAX_FEATURED} featured products",
                    code=CatalogErrorCode.FEATURED_LIMIT_REACHED,
                )
            entry = FeaturedProduct(product_id=product_id)
            db.session.add(entry)
            db.session.flush()
            audit.record(action="create", object_type="featured_product", object_id=entry.id, after={"product_id": product_id})
    except IntegrityError as exc:
        if _violated_constraint(exc) in ("foreign_key", "fk_featured_products_product_id_products"):
            raise _product_not_found() from None
        raise AppError(
            "Product is already featured", code=CatalogErrorCode.ALREADY_FEATURED
        ) from None
    bump_catalog_version()
    return entry


def unfeature_product(*, featured_id: int) -> None:
    """Remove a featured entry, by the entry's id. Side effects: one row deleted, cache
    version bumped."""
    with committing():
        product_id = (
            db.session.scalar(
                delete(FeaturedProduct)
                .where(FeaturedProduct.id == featured_id)
                .returning(FeaturedProduct.product_id)
            )
            if is_row_id(featured_id)
            else None
        )
        if product_id is None:
            raise NotFound("Featured product not found", code=CatalogErrorCode.FEATURED_NOT_FOUND)
        audit.record(action="delete", object_type="featured_product", object_id=featured_id, before={"product_id": product_id})
    bump_catalog_version()


# --- admin: product images -----------------------------------------------------------------------


def set_product_image(*, product_id: int, data: bytes | None, filename: str | None) -> str:
    """Validate, clean and store a product's image, replacing the previous one; returns
    its image path "<bucket>/<object>".

    Order of effects, so that no failure leaves a row without an object or deletes an image
    still in use: (1) the new object is stored (no transaction open meanwhile); (2) the row
    is written and committed under the product's row lock; (3) the cache version is bumped;
    (4) only then is the previous object removed (best effort). If (2) fails, the new object
    is removed again and nothing else changed."""
    if not data:
        raise AppError("No image provided", code=CatalogErrorCode.NO_IMAGE)
    if not is_row_id(product_id) or not db.session.scalar(
        select(exists().where(Product.id == product_id))
    ):
        db.session.rollback()
        raise _product_not_found()
    db.session.rollback()  # hold no transaction while decoding and uploading
    config = current_app.config
    image = clean_image(
        data, max_bytes=config["IMAGE_MAX_BYTES"], max_pixels=config["IMAGE_MAX_PIXELS"]
    )
    name = object_name(filename, image.extension)
    try:
        storage = get_storage()
        image_path = storage.put(name, image.data, content_type=image.content_type)
    except StorageError as exc:
        log.error("product image upload failed: %s", exc)
        raise AppError(
            "Failed to store the image. Please try again later.",
            code=CatalogErrorCode.STORAGE_FAILED,
        ) from exc

    previous_path = None
    try:
        locked = db.session.scalar(
            select(Product.id).where(Product.id == product_id).with_for_update()
        )
        if locked is None:
            raise _product_not_found()
        record = db.session.scalar(
            select(ProductImage).where(ProductImage.product_id == product_id)
        )
        if record is None:
            db.session.add(ProductImage(product_id=product_id, image_path=image_path))
        else:
            previous_path = record.image_path
            record.image_path = image_path
            record.created_at = utcnow()
        audit.record(
            action="update" if previous_path else "create", object_type="product_image", object_id=product_id,
            before={"image_path": previous_path}, after={"image_path": image_path},
        )
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        delete_quietly([image_path], storage=storage)
        if isinstance(exc, IntegrityError):
            raise _product_not_found() from None
        raise
    bump_catalog_version()
    if previous_path and previous_path != image_path:
        delete_quietly([previous_path], storage=storage)
    return image_path
