"""Password hashing, role guards, and the request checks at the edge (frontend secret and
cross-site request refusal). Hashing lives here alone so the algorithm can change in one place.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import lru_cache, wraps

from flask import current_app, request
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.errors import AppError, ErrorCode, InvalidToken, RoleForbidden

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths that are called by machines that send neither the secret nor a browser Origin.
SECRET_EXEMPT_PATHS = frozenset({"/order/webhook", "/healthz", "/readyz", "/metrics"})
ORIGIN_EXEMPT_PATHS = frozenset({"/order/webhook"})


# --- passwords ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password-0000", method=method)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password. Without a stored hash a dummy hash is checked anyway, so that an
    unknown email costs as much time as a wrong password."""
    if not password_hash:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return False
    return check_password_hash(password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return not password_hash.startswith(current_app.config["PASSWORD_HASH_METHOD"] + "$")


# --- who is calling ----------------------------------------------------------------------------


_IDENTITY = "shop.identity"
_USER = "shop.current_user"
_UNSET = object()


def current_identity(*, optional: bool = False):
    """Who the request's access cookie speaks for (app.auth.tokens.Identity: user id, role,
    email, login session), checked once per request; InvalidToken for every token problem.

    With optional=True a request carrying no token at all yields None (a token that is
    present but unusable is still an error)."""
    from app.auth.tokens import authenticate_access_cookie

    environ = request.environ
    identity = environ.get(_IDENTITY, _UNSET)
    if identity is _UNSET:
        try:
            identity = authenticate_access_cookie()
        except InvalidToken:
            environ[_IDENTITY] = InvalidToken
            raise
        environ[_IDENTITY] = identity
    elif identity is InvalidToken:
        raise InvalidToken()
    if identity is None and not optional:
        raise InvalidToken()
    return identity


def load_current_user(*, optional: bool = False):
    """The account of the request's access cookie (loaded once per request, only by the views
    that need more than current_identity()), or None as current_identity() says."""
    from app.auth.models import User
    from app.extensions import db

    identity = current_identity(optional=optional)
    if identity is None:
        return None
    user = request.environ.get(_USER)
    if user is None:
        user = db.session.get(User, identity.user_id)
        if user is None:
            raise InvalidToken()
        request.environ[_USER] = user
    return user


def roles_required(*roles: str) -> Callable:
    """Route guard: a valid access token (else 401) whose user has one of `roles` (else 403).
    With no roles, any authenticated user (guests included) passes."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            identity = current_identity()
            if roles and identity.role not in roles:
                raise RoleForbidden()
            return view(*args, **kwargs)

        return wrapper

    return decorator


any_auth_required = roles_required()
account_required = roles_required("customer", "admin")
admin_required = roles_required("admin")


# --- edge checks -------------------------------------------------------------------------------


def _allowed_origins() -> set[str]:
    origins = {current_app.config["FRONTEND_ORIGIN_URL"].rstrip("/")}
    origins.add(request.host_url.rstrip("/"))
    return origins


def check_frontend_secret(req, config) -> None:
    """Production only: every request but preflights and machine endpoints must carry the
    storefront's shared secret header."""
    if not config.get("ENFORCE_FRONTEND_SECRET"):
        return
    if req.method == "OPTIONS" or req.path in SECRET_EXEMPT_PATHS:
        return
    if not frontend_secret_supplied(req.environ, config):
        raise AppError("Forbidden", code=ErrorCode.FORBIDDEN, status=403)


def frontend_secret_supplied(environ: dict, config) -> bool:
    """Whether the request carries the storefront's shared secret header."""
    expected = config.get("FRONTEND_SECRET_HEADER") or ""
    supplied = environ.get("HTTP_X_FRONTEND_SECRET", "")
    return bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


def check_same_origin(req) -> None:
    """Refuse cross-site unsafe requests, which would otherwise ride on the cookies.

    Browsers send Origin on every cross-origin POST/PUT/DELETE (and Sec-Fetch-Site on all
    requests), so a request from another site is recognised without a CSRF token the
    storefront does not send. Clients that send neither (curl, servers) are not browsers and
    carry no ambient cookies of a victim."""
    if req.method not in UNSAFE_METHODS or req.path in ORIGIN_EXEMPT_PATHS:
        return
    origin = req.headers.get("Origin")
    if origin is not None:
        if origin.rstrip("/") not in _allowed_origins():
            raise AppError("Cross-origin request refused", code=ErrorCode.CROSS_ORIGIN, status=403)
        return
    if req.headers.get("Sec-Fetch-Site") == "cross-site":
        raise AppError("Cross-origin request refused", code=ErrorCode.CROSS_ORIGIN, status=403)
