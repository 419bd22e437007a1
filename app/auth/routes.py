"""Account endpoints under /user (contract §2.1)."""

from __future__ import annotations

from flask import current_app, g, jsonify, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from app.auth import services, tokens
from app.auth.models import Role
from app.auth.schemas import (
    AccountExportSchema,
    AuthenticateSchema,
    EditNameSchema,
    EditPasswordSchema,
    EmailRequestSchema,
    LoginSchema,
    NameSchema,
    ResetPasswordSchema,
    SignupSchema,
    UserSchema,
)
from app.core.api import Blueprint
from app.core.errors import InvalidToken
from app.core.request_info import client_address
from app.core.schemas import ErrorSchema, MessageSchema
from app.core.security import account_required, current_identity, load_current_user
from app.extensions import limiter

blp = Blueprint("user", __name__, url_prefix="/user", description="Accounts and sessions")


def _body_email_key() -> str:
    """Rate-limit key for per-account limits: the email in the body (else the address)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if isinstance(email, str) and email.strip():
        return "account:" + services.normalise_email(email)[:254]
    return "address:" + client_address()


def _limit(setting: str, *, per_account: bool = False):
    return limiter.limit(
        lambda: current_app.config[setting],
        key_func=_body_email_key if per_account else client_address,
        scope=f"{setting}:{'account' if per_account else 'address'}",
    )


def _message(text: str, status: int = 200):
    response = jsonify({"message": text})
    response.status_code = status
    return response


@blp.route("/signup", methods=["POST"])
@_limit("SIGNUP_RATE_LIMIT")
@blp.arguments(SignupSchema)
@blp.response(201, UserSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Invalid data or email already used")
def signup(data):
    """Create an account and email its verification link."""
    return services.signup(
        full_name=data["full_name"],
        email=data["email"],
        password=data["password"],
        role=data.get("role"),
    )


@blp.route("/login", methods=["POST"])
@_limit("LOGIN_RATE_LIMIT")
@_limit("LOGIN_ACCOUNT_RATE_LIMIT", per_account=True)
@blp.arguments(LoginSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Wrong credentials or email not verified")
def login(data):
    """Log in and set the access and refresh cookies."""
    result = services.login(
        email=data["email"],
        password=data["password"],
        remember_me=data["remember_me"],
        guest_user_id=tokens.guest_id_from_cookies(request.cookies),
    )
    return result.tokens.set_cookies(_message("Login successful"))


@blp.route("/authenticate", methods=["GET"])
@blp.response(200, AuthenticateSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def authenticate():
    """Tell the storefront who is signed in."""
    identity = current_identity()
    return {
        "logged_in": True,
        "is_admin": identity.role == Role.ADMIN,
        "is_customer": identity.role == Role.CUSTOMER,
    }


@blp.route("/refresh", methods=["POST"])
@blp.response(200, MessageSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No valid refresh token")
def refresh():
    """Exchange the refresh cookie for a new access cookie (and a rotated refresh cookie)."""
    try:
        verify_jwt_in_request(refresh=True)
    except (JWTExtendedException, PyJWTError) as exc:
        raise InvalidToken() from exc
    session, user = tokens.current_session(), g.get("auth_user")
    if session is None or user is None:
        raise InvalidToken()
    issued = services.refresh(session=session, user=user, presented_jti=get_jwt()["jti"])
    return issued.set_cookies(_message("Token refreshed"))


@blp.route("/logout", methods=["POST"])
@blp.response(200, MessageSchema)
def logout():
    """Revoke this login and clear both cookies (never needs a valid token)."""
    services.logout(session_id=tokens.session_id_from_cookies(request.cookies))
    return tokens.clear_cookies(_message("Logout successful"))


@blp.route("/verify-email/<string:token>", methods=["POST"])
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Token invalid, expired or used")
def verify_email(token):
    """Verify an account with the token from the emailed link."""
    services.verify_email(token=token)
    return {"message": "Email verified successfully"}


@blp.route("/resend-verification", methods=["POST"])
@_limit("EMAIL_REQUEST_RATE_LIMIT")
@_limit("EMAIL_ACCOUNT_RATE_LIMIT", per_account=True)
@blp.arguments(EmailRequestSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Unknown, verified or too soon")
def resend_verification(data):
    """Email a new verification link."""
    services.resend_verification(email=data["email"])
    return {"message": "Verification email sent successfully"}


@blp.route("/reset-password", methods=["POST"])
@_limit("EMAIL_REQUEST_RATE_LIMIT")
@_limit("EMAIL_ACCOUNT_RATE_LIMIT", per_account=True)
@blp.arguments(EmailRequestSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Unknown account or too soon")
def request_password_reset(data):
    """Email a password reset link."""
    services.request_password_reset(email=data["email"])
    return {"message": "Password reset email sent successfully"}


@blp.route("/reset-password/<string:token>", methods=["PUT"])
@_limit("EMAIL_REQUEST_RATE_LIMIT")
@blp.arguments(ResetPasswordSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Token invalid, expired or used")
def reset_password(data, token):
    """Set a new password with the token from the emailed link; ends every session."""
    services.reset_password(token=token, new_password=data["new_password"])
    return {"message": "Password reset successfully"}


@blp.route("/", methods=["GET"])
@account_required
@blp.response(200, NameSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
@blp.alt_response(403, schema=ErrorSchema, description="Guests have no profile")
def get_name():
    """Return the signed-in account's name."""
    return {"full_name": load_current_user().full_name}


@blp.route("/edit-name", methods=["PUT"])
@account_required
@blp.arguments(EditNameSchema)
@blp.response(200, MessageSchema)
def edit_name(data):
    """Change the account's name."""
    services.edit_name(user=load_current_user(), full_name=data["full_name"])
    return {"message": "Name edited successfully"}


@blp.route("/edit-password", methods=["PUT"])
@account_required
@blp.arguments(EditPasswordSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Current password wrong or new one too short")
def edit_password(data):
    """Change the password; every other session of the account is signed out."""
    services.edit_password(
        user=load_current_user(),
        current_password=data["current_password"],
        new_password=data["new_password"],
        session_id=current_identity().session_id,
    )
    return {"message": "Password edited successfully"}


@blp.route("/delete-account", methods=["DELETE"])
@account_required
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Orders still pending")
def delete_account():
    """Delete the account; its orders are kept without the link to it."""
    services.delete_account(user_id=load_current_user().id)
    return {"message": "Account deleted successfully"}


@blp.route("/export", methods=["GET"])
@account_required
@blp.response(200, AccountExportSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
@blp.alt_response(403, schema=ErrorSchema, description="Guests have no account data to export")
def export_data():
    """Download everything the shop holds about the signed-in account, as JSON."""
    data = services.export_account_data(user_id=load_current_user().id)
    response = jsonify(AccountExportSchema().dump(data))
    response.headers["Content-Disposition"] = 'attachment; filename="my-shop-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response
