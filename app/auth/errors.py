"""Error codes of the account domain."""

from enum import StrEnum


class AuthErrorCode(StrEnum):
    EMAIL_TAKEN = "email_taken"
    INVALID_ROLE = "invalid_role"
    INVALID_CREDENTIALS = "invalid_credentials"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    TOKEN_INVALID = "email_token_invalid"
    TOKEN_SUPERSEDED = "email_token_superseded"
    USER_NOT_FOUND = "user_not_found"
    ALREADY_VERIFIED = "already_verified"
    COOLDOWN = "email_cooldown"
    WRONG_PASSWORD = "current_password_invalid"
    PENDING_ORDERS = "pending_orders"
