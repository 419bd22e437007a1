"""Error codes of the cart domain."""

from enum import StrEnum


class CartErrorCode(StrEnum):
    PRODUCT_NOT_FOUND = "product_not_found"
    OUT_OF_STOCK = "out_of_stock"
    CART_PRODUCT_NOT_FOUND = "cart_product_not_found"
    CART_NOT_FOUND = "cart_not_found"
    CART_LOCKED = "cart_locked"
    CART_FULL = "cart_full"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
