"""Error codes of checkout and orders."""

from enum import StrEnum


class OrderErrorCode(StrEnum):
    ADDRESS_MISSING = "address_missing"
    CART_EMPTY = "cart_empty"
    INSUFFICIENT_STOCK = "insufficient_stock"
    PRODUCT_GONE = "product_gone"
    CHECKOUT_FAILED = "checkout_failed"
    CHECKOUT_ALREADY_PAID = "checkout_already_paid"
    CHECKOUT_BUSY = "checkout_busy"
    ORDER_NOT_FOUND = "order_not_found"
    USER_NOT_FOUND = "user_not_found"
    INVALID_STATUS = "invalid_status"
    INVALID_TRANSITION = "invalid_transition"
    TRACKING_URL_MISSING = "tracking_url_missing"
    TRACKING_URL_INVALID = "tracking_url_invalid"
    WEBHOOK_INVALID = "webhook_invalid"
    NO_SESSION_ID = "no_session_id"
