"""Admin catalogue endpoints (contract §2.8): categories, products, featured products and
product images. The admin blueprint's guard has already checked the role."""

from __future__ import annotations

from flask import current_app, request

from app.admin.routes import blp
from app.catalog import services
from app.catalog.schemas import (
    AdminCategoryQueryArgsSchema,
    AdminProductPageSchema,
    AdminProductQueryArgsSchema,
    CategoryCreateSchema,
    CategoryPageSchema,
    CategorySchema,
    CategoryUpdateSchema,
    FeaturedEntrySchema,
    ImageStoredSchema,
    ProductCreatedSchema,
    ProductCreateSchema,
    ProductUpdateSchema,
)
from app.core.schemas import ErrorSchema, MessageSchema

# --- categories ----------------------------------------------------------------------------------


@blp.route("/category/admin", methods=["GET"])
@blp.arguments(AdminCategoryQueryArgsSchema, location="query", as_kwargs=True)
@blp.response(200, CategoryPageSchema)
def list_categories(page, per_page):
    """List categories newest first, ten per page."""
    return services.list_admin_categories(page=page, per_page=per_page)


@blp.route("/category/admin", methods=["POST"])
@blp.arguments(CategoryCreateSchema)
@blp.response(201, CategorySchema)
@blp.alt_response(400, schema=ErrorSchema, description="Missing, too long or taken name")
def create_category(data):
    """Create a category."""
    return services.create_category(name=data["name"])


@blp.route("/category/admin/<int:category_id>", methods=["PUT"])
@blp.arguments(CategoryUpdateSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Category not found or name taken")
def rename_category(data, category_id):
    """Rename a category."""
    services.rename_category(category_id=category_id, name=data["name"])
    return {"message": "Category updated successfully"}


@blp.route("/category/admin/<int:category_id>", methods=["DELETE"])
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Category not found")
def delete_category(category_id):
    """Delete a category and every product in it (order history is kept)."""
    services.delete_category(category_id=category_id)
    return {"message": "Category deleted successfully"}


# --- products ------------------------------------------------------------------------------------


@blp.route("/product/admin", methods=["GET"])
@blp.arguments(AdminProductQueryArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AdminProductPageSchema)
def list_products(page, per_page, category_id=None):
    """List every product, out-of-stock ones too, newest first, ten per page."""
    return services.list_admin_products(page=page, per_page=per_page, category_id=category_id)


@blp.route("/product/admin", methods=["POST"])
@blp.arguments(ProductCreateSchema)
@blp.response(201, ProductCreatedSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Invalid fields or category not found")
def create_product(data):
    """Create a product."""
    product = services.create_product(**data)
    return {"message": "Product created successfully", "product_id": product.id}


@blp.route("/product/admin/<int:product_id>", methods=["PUT"])
@blp.arguments(ProductUpdateSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Invalid fields, stock below reservations")
def update_product(data, product_id):
    """Change some of a product's editable fields."""
    services.update_product(product_id=product_id, **data)
    return {"message": "Product updated successfully"}


@blp.route("/product/admin/<int:product_id>", methods=["DELETE"])
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Product not found")
def delete_product(product_id):
    """Delete a product with its image and featured entry (order history is kept)."""
    services.delete_product(product_id=product_id)
    return {"message": "Product deleted successfully"}


# --- featured products ---------------------------------------------------------------------------


@blp.route("/product/admin/featured-product/<int:product_id>", methods=["GET"])
@blp.response(200, FeaturedEntrySchema)
@blp.alt_response(400, schema=ErrorSchema, description="Product is not featured")
def get_featured_entry(product_id):
    """Show the featured entry of a product (by product id)."""
    return services.get_featured_entry(product_id=product_id)


@blp.route("/product/admin/featured-product/<int:product_id>", methods=["POST"])
@blp.response(201, FeaturedEntrySchema)
@blp.alt_response(400, schema=ErrorSchema, description="Limit reached, already featured, not found")
def feature_product(product_id):
    """Feature a product (by product id); at most four are featured."""
    return services.feature_product(product_id=product_id)


@blp.route("/product/admin/featured-product/<int:featured_id>", methods=["DELETE"])
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Featured entry not found")
def unfeature_product(featured_id):
    """Stop featuring a product (by featured-entry id, not product id)."""
    services.unfeature_product(featured_id=featured_id)
    return {"message": "Product removed from featured products successfully"}


# --- product images ------------------------------------------------------------------------------


@blp.route("/product/admin/product-image/<int:product_id>", methods=["POST"])
@blp.response(201, ImageStoredSchema)
@blp.alt_response(400, schema=ErrorSchema, description="No image, invalid image, product not found")
def upload_product_image(product_id):
    """Upload a product's image (multipart part `image`), replacing the previous one."""
    upload = request.files.get("image")
    data, filename = None, None
    if upload is not None:
        # One byte over the limit is enough to refuse it; never read more than that.
        data = upload.stream.read(current_app.config["IMAGE_MAX_BYTES"] + 1)
        filename = upload.filename
    image_path = services.set_product_image(product_id=product_id, data=data, filename=filename)
    return {"message": "Product image created successfully", "image_path": image_path}
