"""Request and response schemas of the account endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

from app.core.schemas import RequestSchema, TrimmedString

PASSWORD_LENGTH_MESSAGE = "Password must be at least 8 characters long"


def password_field(**kwargs):
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=8, error=PASSWORD_LENGTH_MESSAGE),
            validate.Length(max=128, error="Password must be at most 128 characters long"),
        ],
        **kwargs,
    )


def email_field():
    return TrimmedString(
        required=True,
        validate=[
            validate.Length(max=100, error="Email must be at most 100 characters long"),
            validate.Email(error="Invalid email provided"),
        ],
    )


def full_name_field():
    return TrimmedString(
        required=True,
        validate=validate.Length(min=1, max=100, error="Full name must be 1 to 100 characters long"),
    )


class SignupSchema(RequestSchema):
    full_name = full_name_field()
    email = email_field()
    password = password_field()
    role = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20))


class LoginSchema(RequestSchema):
    email = TrimmedString(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(max=1024))
    remember_me = fields.Boolean(load_default=False)


class EmailRequestSchema(RequestSchema):
    email = email_field()


class ResetPasswordSchema(RequestSchema):
    new_password = password_field()


class EditNameSchema(RequestSchema):
    full_name = full_name_field()


class EditPasswordSchema(RequestSchema):
    current_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password = password_field()


class UserSchema(RequestSchema):
    id = fields.Integer()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    stripe_customer_id = fields.String(allow_none=True)
    created_at = fields.DateTime(format="iso")
    role = fields.String()


class AuthenticateSchema(RequestSchema):
    logged_in = fields.Boolean()
    is_admin = fields.Boolean()
    is_customer = fields.Boolean()


class NameSchema(RequestSchema):
    full_name = fields.String()


class ExportProfileSchema(RequestSchema):
    id = fields.Integer()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    is_verified = fields.Boolean()
    created_at = fields.DateTime(format="iso")
    stripe_customer_id = fields.String(allow_none=True)


class AccountExportSchema(RequestSchema):
    exported_at = fields.DateTime(format="iso")
    profile = fields.Nested(ExportProfileSchema)
    addresses = fields.List(fields.Nested("AddressSchema"))
    orders = fields.List(fields.Nested("OrderWithItemsSchema"))
