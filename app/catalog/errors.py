"""Error codes of the catalogue domain (categories, products, images, featured products)."""

from enum import StrEnum


class CatalogErrorCode(StrEnum):
    CATEGORY_NOT_FOUND = "category_not_found"
    CATEGORY_NAME_TAKEN = "category_name_taken"
    PRODUCT_NOT_FOUND = "product_not_found"
    PRODUCT_IMAGE_NOT_FOUND = "product_image_not_found"
    STOCK_BELOW_RESERVED = "stock_below_reserved"
    NO_FEATURED_PRODUCTS = "no_featured_products"
    FEATURED_LIMIT_REACHED = "featured_limit_reached"
    ALREADY_FEATURED = "already_featured"
    NOT_FEATURED = "not_featured"
    FEATURED_NOT_FOUND = "featured_product_not_found"
    NO_IMAGE = "no_image_provided"
    INVALID_IMAGE = "invalid_image"
    IMAGE_TOO_LARGE = "image_too_large"
    STORAGE_FAILED = "image_storage_failed"
    CATALOG_NOT_EMPTY = "catalog_not_empty"
