"""Contact form schema: every field required, single-line headers."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from app.core.schemas import RequestSchema, TrimmedString


def _single_line(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValidationError("Must be a single line.")


class ContactSchema(RequestSchema):
    from_name = TrimmedString(
        required=True,
        validate=[validate.Length(min=1, max=100, error="Name must be 1 to 100 characters long"), _single_line],
    )
    from_email = TrimmedString(
        required=True,
        validate=[
            validate.Length(max=100, error="Email must be at most 100 characters long"),
            validate.Email(error="Invalid email provided"),
        ],
    )
    subject = TrimmedString(
        required=True,
        validate=[validate.Length(min=1, max=100, error="Subject must be 1 to 100 characters long"), _single_line],
    )
    message = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500, error="Message must be 1 to 500 characters long"),
    )
