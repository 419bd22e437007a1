"""Account rules: signup, login, email verification, password reset, profile, deletion.

Every public function owns its transaction (commits on success, rolls back on error) and
raises AppError subclasses; none of them touches the HTTP request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth import tokens
from app.auth.errors import AuthErrorCode
from app.auth.models import AuthSession, Role, User
from app.cart.models import Cart
from app.cart.services import create_cart, merge_guest_cart, release_cart_lines
from app.core.db import committing, utcnow
from app.core.errors import AppError
from app.core.security import hash_password, password_needs_rehash, verify_password
from app.emails.services import queue_email
from app.extensions import db
from app.orders.models import Order, OrderStatus

VERIFY = "verification"
RESET = "reset"
_SALTS = {VERIFY: "shop.email-verification", RESET: "shop.password-reset"}
_COOLDOWN_MESSAGES = {
    VERIFY: "Please wait before requesting another verification email",
    RESET: "Please wait before requesting another reset password email",
}


@dataclass
class LoginResult:
    user: User
    tokens: tokens.IssuedTokens


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _find_account(email: str) -> User | None:
    return db.session.scalars(
        select(User).where(User.email == normalise_email(email), User.role != Role.GUEST)
    ).first()


# --- email tokens -----------------------------------------------------------------------------


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALTS[purpose])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _claim_email_slot(user: User, purpose: str) -> None:
    """Take the per-purpose 60-second slot with one conditional UPDATE, so two concurrent
    requests cannot both send."""
    column = User.verification_sent_at if purpose == VERIFY else User.reset_sent_at
    now = utcnow()
    cooldown = timedelta(seconds=current_app.config["EMAIL_COOLDOWN_SECONDS"])
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(column.is_(None), column <= now - cooldown))
        .values({column: now})
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise AppError(_COOLDOWN_MESSAGES[purpose], code=AuthErrorCode.COOLDOWN)


def _issue_email_token(user: User, purpose: str) -> str:
    """A signed, one-hour token naming the user and their email; only its digest is stored,
    and a newer token replaces it (single use, latest only)."""
    token = _serializer(purpose).dumps(
        {"u": user.id, "e": user.email, "n": secrets.token_urlsafe(8)}
    )
    if purpose == VERIFY:
        user.verification_token_digest = _digest(token)
    else:
        user.reset_token_digest = _digest(token)
    return token


def _read_email_token(token: str, purpose: str) -> User:
    try:
        data = _serializer(purpose).loads(
            token, max_age=current_app.config["EMAIL_TOKEN_MAX_AGE_SECONDS"]
        )
    except (SignatureExpired, BadSignature):
        raise AppError("Token invalid or expired", code=AuthErrorCode.TOKEN_INVALID) from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise AppError("Token invalid or expired", code=AuthErrorCode.TOKEN_INVALID)
    user = db.session.scalars(select(User).where(User.id == data["u"]).with_for_update()).first()
    if user is None or user.role == Role.GUEST:
        raise AppError("User not found", code=AuthErrorCode.USER_NOT_FOUND)
    if purpose == VERIFY and user.is_verified:
        raise AppError("Account already verified", code=AuthErrorCode.ALREADY_VERIFIED)
    stored = user.verification_token_digest if purpose == VERIFY else user.reset_token_digest
    if data.get("e") != user.email or stored is None or not secrets.compare_digest(stored, _digest(token)):
        raise AppError("Invalid token or expired", code=AuthErrorCode.TOKEN_SUPERSEDED)
    return user


def _queue_verification_email(user: User) -> None:
    token = _issue_email_token(user, VERIFY)
    link = f"{current_app.config['FRONTEND_PUBLIC_URL'].rstrip('/')}/login/{token}"
    queue_email(
        kind="verify_email",
        to=user.email,
        subject="Verify your email address",
        template="verify_email",
        context={"full_name": user.full_name, "button_link": link},
    )


def _queue_reset_email(user: User) -> None:
    token = _issue_email_token(user, RESET)
    link = f"{current_app.config['FRONTEND_PUBLIC_URL'].rstrip('/')}/reset-password/{token}"
    queue_email(
        kind="reset_password",
        to=user.email,
        subject="Reset your password",
        template="reset_password",
        context={"full_name": user.full_name, "button_link": link},
    )


# --- signup and login -------------------------------------------------------------------------


def _no_account_exists() -> bool:
    return not db.session.scalar(select(exists().where(User.role != Role.GUEST)))


def _become_founder(user: User) -> bool:
    """Insert `user` as the shop's first admin if no account exists yet. Two first signups
    racing: the unique founder flag lets one win; the loser is left unsaved."""
    if not _no_account_exists():
        return False
    try:
        with db.session.begin_nested():
            user.role = Role.ADMIN
            user.is_founder = True
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        user.role = Role.CUSTOMER
        user.is_founder = None
        return False
    return True


def signup(*, full_name: str, email: str, password: str, role: str | None = None) -> User:
    """Create an unverified account with its cart and queue the verification email (one
    transaction). The first account becomes the admin; a unique founder flag in the database
    settles two first signups racing each other."""
    if role not in (None, "", Role.ADMIN):
        raise AppError("Invalid role", code=AuthErrorCode.INVALID_ROLE)
    email = normalise_email(email)
    try:
        with committing():
            if _find_account(email) is not None:
                raise AppError(
                    "User with the provided email already exists", code=AuthErrorCode.EMAIL_TAKEN
                )
            user = User(
                full_name=full_name,
                email=email,
                password_hash=hash_password(password),
                role=Role.CUSTOMER,
                is_verified=False,
            )
            if not _become_founder(user):
                if role == Role.ADMIN:
                    raise AppError("Invalid role", code=AuthErrorCode.INVALID_ROLE)
                db.session.add(user)
                db.session.flush()
            create_cart(user_id=user.id)
            user.verification_sent_at = utcnow()
            _queue_verification_email(user)
    except IntegrityError:
        raise AppError(
            "User with the provided email already exists", code=AuthErrorCode.EMAIL_TAKEN
        ) from None
    return user


def login(
    *, email: str, password: str, remember_me: bool, guest_user_id: int | None = None
) -> LoginResult:
    """Check the credentials and start a session (writes the session row; may upgrade the
    stored hash to the current parameters). When the request came from a guest, the guest's
    cart lines move into the account's cart and the guest is deleted, in the same
    transaction (docs/decisions/0007-guest-cart-merge.md)."""
    user = _find_account(email)
    if not verify_password(user.password_hash if user else None, password):
        db.session.rollback()
        raise AppError("Invalid email or password", code=AuthErrorCode.INVALID_CREDENTIALS)
    if not user.is_verified:
        db.session.rollback()
        raise AppError("Email not verified", code=AuthErrorCode.EMAIL_NOT_VERIFIED)
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if guest_user_id is not None:
        merge_guest_cart(guest_user_id=guest_user_id, into_user_id=user.id)
    issued = tokens.start_session(user=user, remember_me=remember_me)
    db.session.commit()
    return LoginResult(user=user, tokens=issued)


def refresh(*, session: AuthSession, user: User, presented_jti: str) -> tokens.IssuedTokens:
    """Rotate the refresh token of a live session (writes the session)."""
    issued = tokens.rotate_session(session=session, user=user, presented_jti=presented_jti)
    db.session.commit()
    return issued


def logout(*, session_id: str | None) -> None:
    """Revoke the session named by the request's cookies, if any."""
    if session_id is None:
        return
    tokens.revoke_session(session_id=session_id, reason="logout")
    db.session.commit()


# --- verification and reset -------------------------------------------------------------------


def verify_email(*, token: str) -> None:
    """Mark the account verified and spend the token."""
    with committing():
        user = _read_email_token(token, VERIFY)
        user.is_verified = True
        user.verification_token_digest = None


def _account_for_email(email: str) -> User:
    user = _find_account(email)
    if user is None:
        raise AppError("User not found", code=AuthErrorCode.USER_NOT_FOUND)
    return user


def resend_verification(*, email: str) -> None:
    """Issue a new verification token and queue its email (60-second cooldown)."""
    with committing():
        user = _account_for_email(email)
        if user.is_verified:
            raise AppError("Email already verified", code=AuthErrorCode.ALREADY_VERIFIED)
        _claim_email_slot(user, VERIFY)
        _queue_verification_email(user)


def request_password_reset(*, email: str) -> None:
    """Issue a reset token and queue its email (60-second cooldown)."""
    with committing():
        user = _account_for_email(email)
        _claim_email_slot(user, RESET)
        _queue_reset_email(user)


def reset_password(*, token: str, new_password: str) -> None:
    """Set a new password, spend the token and revoke every session of the account. The
    link proved the email address, so an unverified account becomes verified."""
    with committing():
        user = _read_email_token(token, RESET)
        user.password_hash = hash_password(new_password)
        user.reset_token_digest = None
        user.is_verified = True
        user.password_changed_at = utcnow()
        tokens.revoke_user_sessions(user_id=user.id, reason="password_reset")


# --- profile ----------------------------------------------------------------------------------


def edit_name(*, user: User, full_name: str) -> None:
    user.full_name = full_name
    db.session.commit()


def edit_password(*, user: User, current_password: str, new_password: str, session_id: str) -> None:
    """Change the password and revoke every other session of the account."""
    if not verify_password(user.password_hash, current_password):
        db.session.rollback()
        raise AppError("Current password invalid", code=AuthErrorCode.WRONG_PASSWORD)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    tokens.revoke_user_sessions(user_id=user.id, reason="password_change", keep_session_id=session_id)
    db.session.commit()


def delete_account(*, user_id: int) -> None:
    """Delete the account with its cart, lines, addresses and sessions, releasing the cart's
    reservations first; orders stay with their user link cleared. Refused while an order is
    not delivered or a checkout is open."""
    with committing():
        user = db.session.scalars(select(User).where(User.id == user_id).with_for_update()).first()
        if user is None:
            raise AppError("User not found", code=AuthErrorCode.USER_NOT_FOUND)
        pending = db.session.scalar(
            select(exists().where(Order.user_id == user_id, Order.status != OrderStatus.DELIVERED))
        )
        if pending:
            raise AppError(
                "Cannot delete account with pending orders", code=AuthErrorCode.PENDING_ORDERS
            )
        cart = db.session.scalars(select(Cart).where(Cart.user_id == user_id)).first()
        if cart is not None:
            if cart.locked_at is not None:
                from app.orders.checkout import close_open_checkout

                # Expire the open Stripe session first; if it was paid meanwhile, the order
                # is completed and the deletion refused like any with a pending order.
                cart = db.session.scalars(select(Cart).where(Cart.id == cart.id).with_for_update()).one()
                close_open_checkout(cart=cart)
            release_cart_lines(cart_id=cart.id)
        db.session.delete(user)


def create_admin(*, email: str, full_name: str, password: str) -> User:
    """Operator command: create a verified admin, or promote and verify an existing account."""
    user = _find_account(email)
    if user is None:
        user = User(
            full_name=full_name,
            email=normalise_email(email),
            password_hash=hash_password(password),
            role=Role.ADMIN,
            is_verified=True,
        )
        db.session.add(user)
        db.session.flush()
        create_cart(user_id=user.id)
    else:
        user.role = Role.ADMIN
        user.is_verified = True
        user.password_hash = hash_password(password)
    db.session.commit()
    return user


def export_account_data(*, user_id: int) -> dict:
    """Everything the shop holds about one account: profile, addresses, orders with items
    (read only; a handful of statements whatever the history's size)."""
    from app.addresses.models import Address
    from app.orders.services import orders_with_items

    user = db.session.get(User, user_id)
    if user is None:
        raise AppError("User not found", code=AuthErrorCode.USER_NOT_FOUND)
    addresses = db.session.scalars(
        select(Address).where(Address.user_id == user_id).order_by(Address.is_default.desc(), Address.id)
    ).all()
    orders = db.session.scalars(
        select(Order).where(Order.user_id == user_id).order_by(Order.created_at.desc(), Order.id.desc())
    ).all()
    return {
        "exported_at": utcnow(),
        "profile": {
            "id": user.id,
            "full_name": user.full_name,
            "email": user.email,
            "role": user.role,
            "is_verified": user.is_verified,
            "created_at": user.created_at,
            "stripe_customer_id": user.stripe_customer_id,
        },
        "addresses": [
            {
                "id": address.id,
                "full_name": address.full_name,
                "address_line_1": address.address_line_1,
                "address_line_2": address.address_line_2,
                "city": address.city,
                "postcode": address.postcode,
                "is_default": address.is_default,
            }
            for address in addresses
        ],
        "orders": orders_with_items(list(orders)),
    }
