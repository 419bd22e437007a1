"""Error codes of the address book."""

from enum import StrEnum


class AddressErrorCode(StrEnum):
    ADDRESS_NOT_FOUND = "address_not_found"
    DEFAULT_NOT_FOUND = "default_address_not_found"
    ADDRESS_LIMIT = "address_limit_reached"
    DEFAULT_REQUIRED = "default_address_required"
