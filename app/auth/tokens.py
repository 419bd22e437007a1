"""Login sessions and the JWT cookies that carry them.

Every token names its AuthSession (`sid`). Access tokens are valid while the session is live;
refresh tokens additionally must carry the session's current refresh id (`jti`): refreshing
rotates it, and presenting an older one revokes the whole login (a stolen refresh token is
then useless to both parties). A short grace period tolerates two tabs refreshing at once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    decode_token,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)
from sqlalchemy import select, update

from app.auth.models import AuthSession, Role, User
from app.core.db import utcnow
from app.core.errors import InvalidToken, error_response
from app.extensions import db, jwt

log = logging.getLogger(__name__)

REFRESH_GRACE = timedelta(seconds=30)


class IssuedTokens:
    """Tokens for one response, plus whether their cookies outlive the browser session."""

    def __init__(self, access: str, refresh: str | None, max_age: int | None):
        self.access = access
        self.refresh = refresh
        self.max_age = max_age

    def set_cookies(self, response: Response) -> Response:
        set_access_cookies(response, self.access, max_age=self.max_age)
        if self.refresh is not None:
            set_refresh_cookies(response, self.refresh, max_age=self.max_age)
        return response


def _refresh_lifetime(user: User, remember_me: bool) -> timedelta:
    config = current_app.config
    if user.role == Role.GUEST:
        return config["GUEST_REFRESH_EXPIRES"]
    if remember_me:
        return config["REMEMBER_ME_REFRESH_EXPIRES"]
    return config["JWT_REFRESH_TOKEN_EXPIRES"]


def _persistent(user: User, session: AuthSession) -> bool:
    # Remembered logins and guests keep their cookies across browser restarts; the access
    # cookie lives as long as the refresh cookie (its JWT still expires after 30 minutes), so
    # a signed-in shopper is never mistaken for a new guest.
    return session.remember_me or user.role == Role.GUEST


def _encode(user: User, session: AuthSession, *, with_refresh: bool) -> IssuedTokens:
    claims = {"sid": session.id}
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = None
    if with_refresh:
        lifetime = session.expires_at - utcnow()
        refresh = create_refresh_token(
            identity=str(user.id),
            additional_claims={**claims, "jti": session.refresh_jti},
            expires_delta=lifetime,
        )
    max_age = None
    if _persistent(user, session):
        max_age = max(int((session.expires_at - utcnow()).total_seconds()), 0)
    return IssuedTokens(access, refresh, max_age)


def start_session(*, user: User, remember_me: bool = False) -> IssuedTokens:
    """Create a login session for `user` (adds to the current transaction; caller commits)."""
    now = utcnow()
    session = AuthSession(
        id=str(uuid.uuid4()),
        user_id=user.id,
        refresh_jti=str(uuid.uuid4()),
        remember_me=remember_me,
        created_at=now,
        expires_at=now + _refresh_lifetime(user, remember_me),
    )
    db.session.add(session)
    db.session.flush()
    return _encode(user, session, with_refresh=True)


def rotate_session(*, session: AuthSession, user: User, presented_jti: str) -> IssuedTokens:
    """Issue a new access token and rotate the refresh token, under the session's row lock
    so that concurrent refreshes with one cookie all end up holding the same, current
    refresh token (side effect: updates the session; caller commits). Raises InvalidToken
    when the presented token turns out to be an old one."""
    session = db.session.scalars(
        select(AuthSession)
        .where(AuthSession.id == session.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    now = utcnow()
    if session.revoked_at is not None:
        raise InvalidToken()
    if presented_jti == session.refresh_jti:
        session.previous_refresh_jti = session.refresh_jti
        session.refresh_jti = str(uuid.uuid4())
        session.refreshed_at = now
        session.expires_at = now + _refresh_lifetime(user, session.remember_me)
    elif not _within_grace(session, presented_jti, now):
        _revoke_for_reuse(session, user)
        raise InvalidToken()
    # else: a refresh that raced the rotation; it gets the current refresh token too.
    return _encode(user, session, with_refresh=True)


def _within_grace(session: AuthSession, presented_jti: str, now) -> bool:
    return (
        presented_jti == session.previous_refresh_jti
        and session.refreshed_at is not None
        and now - session.refreshed_at < REFRESH_GRACE
    )


def _revoke_for_reuse(session: AuthSession, user: User) -> None:
    log.warning("refresh token reuse; login revoked", extra={"user_id": user.id})
    revoke_session(session_id=session.id, reason="refresh_reuse")
    db.session.commit()


def revoke_session(*, session_id: str, reason: str) -> None:
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


def revoke_user_sessions(*, user_id: int, reason: str, keep_session_id: str | None = None) -> None:
    statement = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        statement = statement.where(AuthSession.id != keep_session_id)
    db.session.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))


def session_id_from_cookies(cookies) -> str | None:
    """The session named by whichever auth cookie decodes with our key, expired or not."""
    for name in (current_app.config["JWT_REFRESH_COOKIE_NAME"], current_app.config["JWT_ACCESS_COOKIE_NAME"]):
        token = cookies.get(name)
        if not token:
            continue
        try:
            claims = decode_token(token, allow_expired=True)
        except Exception:  # a forged or malformed cookie revokes nothing
            continue
        if claims.get("sid"):
            return claims["sid"]
    return None


# The storefront fires logout and login together when a guest signs in; a guest session
# revoked by that logout this recently still hands its cart over.
GUEST_HANDOVER_WINDOW = timedelta(seconds=60)


def guest_id_from_cookies(cookies) -> int | None:
    """The guest whose valid access token these cookies carry (a session just ended by the
    storefront's own logout still counts), else None."""
    token = cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])
    if not token:
        return None
    try:
        claims = decode_token(token)
    except Exception:
        return None
    if claims.get("type") != "access" or not claims.get("sid"):
        return None
    row = db.session.execute(
        select(AuthSession.revoked_at, AuthSession.revoked_reason, User.id, User.role)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == claims["sid"])
    ).first()
    if row is None or row.role != Role.GUEST or str(row.id) != claims.get("sub"):
        return None
    if row.revoked_at is not None and not (
        row.revoked_reason == "logout" and utcnow() - row.revoked_at < GUEST_HANDOVER_WINDOW
    ):
        return None
    return row.id


def clear_cookies(response: Response) -> Response:
    unset_jwt_cookies(response)
    return response


def current_session() -> AuthSession | None:
    return g.get("auth_session")


def _check_token(payload: dict) -> bool:
    """Return True when the token must be refused. Loads the session and its user once per
    request (one statement) and keeps them on `g`."""
    session_id = payload.get("sid")
    if not session_id:
        return True
    # A route guard and its view may both check the access token: one statement per request.
    # (Remembered on the request itself: `g` can outlive a request when an app context was
    # already pushed, as in tests.)
    checked = request.environ.get("shop.checked_token") if has_request_context() else None
    if payload.get("type") == "access" and checked == (session_id, payload.get("sub")):
        return False
    row = db.session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == session_id)
    ).first()
    if row is None:
        return True
    session, user = row
    now = utcnow()
    if session.revoked_at is not None or session.expires_at <= now:
        return True
    if str(user.id) != payload.get("sub"):
        return True
    presented = payload.get("jti")
    # An older refresh token passes here only if it is the one replaced last; the refresh
    # path decides under the row lock whether it was replaced a moment ago. Anything else
    # is a replay.
    if payload.get("type") == "refresh" and presented not in (
        session.refresh_jti,
        session.previous_refresh_jti,
    ):
        _revoke_for_reuse(session, user)
        return True
    g.auth_session = session
    g.auth_user = user
    if has_request_context():
        request.environ["shop.checked_token"] = (session.id, str(user.id))
    return False


def register_jwt_callbacks(app: Flask) -> None:
    @jwt.token_in_blocklist_loader
    def _blocked(jwt_header, jwt_payload):
        return _check_token(jwt_payload)

    @jwt.user_lookup_loader
    def _lookup(jwt_header, jwt_payload):
        return g.get("auth_user")

    def _unauthorised(*_args):
        return error_response(InvalidToken())

    jwt.unauthorized_loader(_unauthorised)
    jwt.invalid_token_loader(_unauthorised)
    jwt.expired_token_loader(_unauthorised)
    jwt.revoked_token_loader(_unauthorised)
    jwt.user_lookup_error_loader(_unauthorised)
    jwt.token_verification_failed_loader(_unauthorised)


