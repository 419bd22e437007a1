"""Request and response schemas of the address book (contract §2.2)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.core.schemas import RequestSchema, TrimmedString


def _text(
    label: str,
    *,
    max_length: int,
    non_empty: bool = False,
    required: bool = False,
    allow_none: bool = False,
    **kwargs,
):
    """A trimmed text field; `non_empty` ones must not be blank, the others may be ""."""
    if non_empty:
        check = validate.Length(
            min=1, max=max_length, error=f"{label} must be 1 to {max_length} characters long"
        )
    else:
        check = validate.Length(
            max=max_length, error=f"{label} must be at most {max_length} characters long"
        )
    return TrimmedString(
        required=required,
        allow_none=allow_none,
        validate=check,
        error_messages={
            "required": f"{label} is required",
            "null": f"{label} is required" if non_empty else f"{label} must be text",
            "invalid": f"{label} must be text",
        },
        **kwargs,
    )


class AddressCreateSchema(RequestSchema):
    full_name = _text("Full name", max_length=100, non_empty=True, required=True)
    address_line_1 = _text("Address line 1", max_length=100, non_empty=True, required=True)
    address_line_2 = _text("Address line 2", max_length=100, allow_none=True, load_default=None)
    city = _text("City", max_length=100, load_default="")
    postcode = _text("Postcode", max_length=20, load_default="")
    # The storefront always sends it; the first address becomes the default regardless.
    is_default = fields.Boolean(load_default=False)


class AddressUpdateSchema(RequestSchema):
    """Any non-empty subset of the five address fields and/or `is_default`; nothing else
    (not `id`, not `user_id`) is accepted."""

    full_name = _text("Full name", max_length=100, non_empty=True)
    address_line_1 = _text("Address line 1", max_length=100, non_empty=True)
    address_line_2 = _text("Address line 2", max_length=100, allow_none=True)
    city = _text("City", max_length=100)
    postcode = _text("Postcode", max_length=20)
    is_default = fields.Boolean()


class AddressSchema(Schema):
    id = fields.Integer()
    full_name = fields.String()
    address_line_1 = fields.String()
    address_line_2 = fields.String(allow_none=True)
    city = fields.String()
    postcode = fields.String()
    is_default = fields.Boolean()
