"""Marshmallow building blocks shared by every domain's schemas."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields


class RequestSchema(Schema):
    """Base for request bodies: unknown fields are refused, never silently applied."""

    class Meta:
        unknown = RAISE


class LenientRequestSchema(Schema):
    """Base for request bodies whose client sends extra fields we ignore (never apply)."""

    class Meta:
        unknown = EXCLUDE


class WholeNumber(fields.Integer):
    """An integer that also accepts a numeric string ("3") and a whole float (3.0), and
    refuses booleans, fractions and anything that is not a number."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise self.make_error("invalid")
            value = int(value)
        elif isinstance(value, str):
            text = value.strip()
            # isascii: str.isdigit() also accepts characters int() refuses, such as "²".
            if not text or not text.isascii() or not (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
                raise self.make_error("invalid")
            if len(text) > 18:
                raise self.make_error("invalid")
            value = int(text)
        elif not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class MoneyAmount(fields.Field):
    """A price: number or numeric string, at most two decimal places, kept as Decimal."""

    default_error_messages = {
        "invalid": "Must be a number.",
        "places": "Must have at most two decimal places.",
        "range": "Must be less than 100000000.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not amount.is_finite():
            raise self.make_error("invalid")
        # Checked before quantize(), which fails on numbers with more digits than the context.
        if abs(amount) >= Decimal("100000000"):
            raise self.make_error("range")
        if amount != amount.quantize(Decimal("0.01")):
            raise self.make_error("places")
        return amount.quantize(Decimal("0.01"))

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        # The storefront multiplies prices, so they travel as JSON numbers.
        return float(value)


class TrimmedString(fields.String):
    """A string with surrounding whitespace removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        return result.strip()


class MessageSchema(Schema):
    message = fields.String()


class ErrorSchema(Schema):
    error = fields.String(required=True)
    code = fields.String()
    field_errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), data_key="fields"
    )


def require_non_empty(value: str) -> None:
    if not value:
        raise ValidationError("Must not be empty.")
