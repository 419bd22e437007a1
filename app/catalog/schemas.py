"""Request and response schemas of the catalogue (contract §1.8, §2.3, §2.4, §2.8)."""

from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, post_load, validate

from app.core.db import MAX_ROW_ID
from app.core.pagination import PageArgsSchema, envelope_schema
from app.core.schemas import MoneyAmount, RequestSchema, TrimmedString, WholeNumber

INT_MAX = MAX_ROW_ID  # PostgreSQL integer columns
SHOP_PAGE_SIZE = 9
ADMIN_PAGE_SIZE = 10
SEARCH_MAX_LENGTH = 100
CATEGORY_NAME_MAX = 20
PRODUCT_NAME_MAX = 100
DESCRIPTION_MAX = 1000

_DIGITS = re.compile(r"[0-9]{1,18}")


# --- query arguments ----------------------------------------------------------------------------


class CategoryFilter(fields.Field):
    """`category_id` in a query string: a whole number filters, anything else (absent,
    "undefined", "all", "") means every category (contract §2.4.1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        if not _DIGITS.fullmatch(text):
            return None
        number = int(text)
        # No category has such an id: an empty list, not a database error.
        return number if number <= INT_MAX else 0


class ProductQueryArgsSchema(PageArgsSchema):
    """Shop list: page (9 per page), category, order, optional search text."""

    DEFAULT_PER_PAGE = SHOP_PAGE_SIZE

    category_id = CategoryFilter(load_default=None)
    sort_by = fields.String(load_default=None)
    q = TrimmedString(
        load_default=None,
        validate=validate.Length(
            max=SEARCH_MAX_LENGTH,
            error=f"Search text must be at most {SEARCH_MAX_LENGTH} characters long",
        ),
    )


class AdminProductQueryArgsSchema(PageArgsSchema):
    """Admin product list: page (10 per page) and category."""

    DEFAULT_PER_PAGE = ADMIN_PAGE_SIZE

    category_id = CategoryFilter(load_default=None)


class AdminCategoryQueryArgsSchema(PageArgsSchema):
    """Admin category list: page (10 per page)."""

    DEFAULT_PER_PAGE = ADMIN_PAGE_SIZE


# --- responses ----------------------------------------------------------------------------------


class CategorySchema(Schema):
    id = fields.Integer()
    name = fields.String()


class ShopProductSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    price = MoneyAmount()
    image_path = fields.String(allow_none=True)
    category_name = fields.String()


class ProductDetailSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    price = MoneyAmount()
    stock = fields.Integer()
    reserved_stock = fields.Integer()
    category_id = fields.Integer()


class ProductImageSchema(Schema):
    image_path = fields.String()
    product_id = fields.Integer()


class AdminProductSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    price = MoneyAmount()
    stock = fields.Integer()
    reserved_stock = fields.Integer()


class FeaturedEntrySchema(Schema):
    id = fields.Integer()
    product_id = fields.Integer()


class ProductCreatedSchema(Schema):
    message = fields.String()
    product_id = fields.Integer()


class ImageStoredSchema(Schema):
    message = fields.String()
    image_path = fields.String()


ProductPageSchema = envelope_schema("ProductPage", "products", ShopProductSchema)
AdminProductPageSchema = envelope_schema("AdminProductPage", "products", AdminProductSchema)
CategoryPageSchema = envelope_schema("CategoryPage", "categories", CategorySchema)


# --- request bodies -----------------------------------------------------------------------------


def _category_name_field(**kwargs):
    return TrimmedString(
        validate=validate.Length(
            min=1,
            max=CATEGORY_NAME_MAX,
            error=f"Category name must be 1 to {CATEGORY_NAME_MAX} characters long",
        ),
        error_messages={
            "required": "Category name is required",
            "null": "Category name is required",
            "invalid": "Category name must be text",
        },
        **kwargs,
    )


class CategoryCreateSchema(RequestSchema):
    name = _category_name_field(required=True)


class CategoryUpdateSchema(RequestSchema):
    """The admin page sends the whole category back: `id` is accepted and ignored."""

    id = fields.Raw(load_only=True, allow_none=True)
    name = _category_name_field(required=True)

    @post_load
    def _drop_id(self, data: dict, **_kwargs) -> dict:
        data.pop("id", None)
        return data


def _price_field(**kwargs):
    def positive(value: Decimal) -> None:
        if value < 0:
            raise ValidationError("Price cannot be a negative number")
        if value == 0:
            raise ValidationError("Price must be greater than 0")

    return MoneyAmount(
        validate=positive,
        error_messages={
            "required": "Price is required",
            "null": "Price must be a number",
            "invalid": "Price must be a number",
            "places": "Price must have at most two decimal places",
            "range": "Price must be less than 100000000",
        },
        **kwargs,
    )


def _stock_field(**kwargs):
    def within_range(value: int) -> None:
        if value < 0:
            raise ValidationError("Stock cannot be a negative number")
        if value > INT_MAX:
            raise ValidationError(f"Stock must be at most {INT_MAX}")

    return WholeNumber(
        validate=within_range,
        error_messages={
            "required": "Stock is required",
            "null": "Stock must be a whole number",
            "invalid": "Stock must be a whole number",
        },
        **kwargs,
    )


def _category_id_field(**kwargs):
    return WholeNumber(
        # An id no category can have is simply not found.
        validate=validate.Range(min=1, max=INT_MAX, error="Category not found"),
        error_messages={
            "required": "Category is required",
            "null": "Category is required",
            "invalid": "Category must be a whole number",
        },
        **kwargs,
    )


def _product_name_field(**kwargs):
    return TrimmedString(
        validate=validate.Length(
            min=1,
            max=PRODUCT_NAME_MAX,
            error=f"Product name must be 1 to {PRODUCT_NAME_MAX} characters long",
        ),
        error_messages={
            "required": "Product name is required",
            "null": "Product name is required",
            "invalid": "Product name must be text",
        },
        **kwargs,
    )


def _description_field(**kwargs):
    return fields.String(
        validate=validate.Length(
            max=DESCRIPTION_MAX,
            error=f"Description must be at most {DESCRIPTION_MAX} characters long",
        ),
        error_messages={
            "required": "Description is required",
            "null": "Description must be text",
            "invalid": "Description must be text",
        },
        **kwargs,
    )


class ProductCreateSchema(RequestSchema):
    """Only the editable fields; anything else (`id`, `reserved_stock`, ...) is refused."""

    name = _product_name_field(required=True)
    description = _description_field(required=True)
    price = _price_field(required=True)
    stock = _stock_field(required=True)
    category_id = _category_id_field(required=True)


class ProductUpdateSchema(RequestSchema):
    """A partial edit: any of the editable fields, nothing else."""

    name = _product_name_field()
    description = _description_field()
    price = _price_field()
    stock = _stock_field()
    category_id = _category_id_field()
