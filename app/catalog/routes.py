"""Public catalogue endpoints under /category and /product (contract §2.3, §2.4).

The admin endpoints on the same paths (/category/admin..., /product/admin...) live in the
admin blueprint; werkzeug matches literal segments before `<int:...>` converters, and the
converters never match "admin" or "featured-product", so the two never collide.
"""

from __future__ import annotations

from app.catalog import services
from app.catalog.cache import CATALOG
from app.catalog.schemas import (
    CategorySchema,
    ProductDetailSchema,
    ProductImageSchema,
    ProductPageSchema,
    ProductQueryArgsSchema,
    ShopProductSchema,
)
from app.core.api import Blueprint
from app.core.invalidation import product_tag
from app.core.response_cache import cached_response
from app.core.schemas import ErrorSchema

category_blp = Blueprint(
    "category", __name__, url_prefix="/category", description="Product categories"
)
product_blp = Blueprint(
    "product", __name__, url_prefix="/product", description="Products, images, featured products"
)


@category_blp.route("/", methods=["GET"])
@cached_response(CATALOG, public=True)
@category_blp.response(200, CategorySchema(many=True))
def list_categories():
    """List every category in id order."""
    return services.list_categories()


@category_blp.route("/<int:category_id>", methods=["GET"])
@cached_response(CATALOG, public=True)
@category_blp.response(200, CategorySchema)
@category_blp.alt_response(400, schema=ErrorSchema, description="Category not found")
def get_category(category_id):
    """Show one category."""
    return services.get_category(category_id=category_id)


@product_blp.route("/", methods=["GET"])
@cached_response(CATALOG, public=True)
@product_blp.arguments(ProductQueryArgsSchema, location="query", as_kwargs=True)
@product_blp.response(200, ProductPageSchema)
@product_blp.alt_response(400, schema=ErrorSchema, description="Invalid page or search text")
def list_products(page, per_page, category_id=None, sort_by=None, q=None):
    """List in-stock products a page at a time, filtered, sorted or searched."""
    return services.list_shop_products(
        page=page, per_page=per_page, category_id=category_id, sort_by=sort_by, q=q
    )


@product_blp.route("/featured-product", methods=["GET"])
@cached_response(CATALOG, public=True)
@product_blp.response(200, ShopProductSchema(many=True))
@product_blp.alt_response(400, schema=ErrorSchema, description="No featured product in stock")
def list_featured_products():
    """List the featured products that are in stock, in featuring order."""
    return services.list_featured_products()


@product_blp.route("/<int:product_id>", methods=["GET"])
@cached_response(CATALOG, tags=lambda product_id: [product_tag(product_id)], public=True)
@product_blp.response(200, ProductDetailSchema)
@product_blp.alt_response(400, schema=ErrorSchema, description="Product not found")
def get_product(product_id):
    """Show one product with its stock and reserved stock."""
    return services.get_product(product_id=product_id)


@product_blp.route("/product-image/<int:product_id>", methods=["GET"])
@cached_response(CATALOG, public=True)
@product_blp.response(200, ProductImageSchema)
@product_blp.alt_response(400, schema=ErrorSchema, description="Product or image not found")
def get_product_image(product_id):
    """Show the image path of a product's image."""
    return services.get_product_image(product_id=product_id)
