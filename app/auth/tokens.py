"""Login sessions and the JWT cookies that carry them.

Every token names its AuthSession (`sid`). Access tokens are valid while the session is live;
refresh tokens additionally must carry the session's current refresh id (`jti`): refreshing
rotates it, and presenting an older one revokes the whole login (a stolen refresh token is
then useless to both parties). A short grace period tolerates two tabs refreshing at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from itertools import chain
from typing import NamedTuple

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    decode_token,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session

from app.auth.models import AuthSession, Role, User
from app.core import invalidation
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


def guest_session_row() -> dict:
    """The columns of a new guest's login session, all but `user_id`: for a caller that
    inserts the guest and its session itself, in as few statements as it can (a new guest's
    first add-to-cart, app.cart.services). Issue its tokens with guest_tokens()."""
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "refresh_jti": str(uuid.uuid4()),
        "remember_me": False,
        "created_at": now,
        "expires_at": now + current_app.config["GUEST_REFRESH_EXPIRES"],
    }


def guest_tokens(*, guest_id: int, row: dict) -> IssuedTokens:
    """The tokens start_session would issue for guest `guest_id` whose login session `row`
    (from guest_session_row) is inserted in the current transaction."""
    return _encode(
        User(id=guest_id, role=Role.GUEST), AuthSession(user_id=guest_id, **row), with_refresh=True
    )


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


def _session_is_live(revoked_at, expires_at, user_id: int, subject: str | None) -> bool:
    """A login session still speaks for the token's subject: not revoked, not expired, and
    the same account."""
    return revoked_at is None and expires_at > utcnow() and str(user_id) == subject


def _check_token(payload: dict) -> bool:
    """Return True when the token must be refused. Reached through flask-jwt-extended, which
    the refresh endpoint alone uses (access cookies: authenticate_access_cookie). Loads the
    session and its user (one statement) and keeps them on `g`."""
    session_id = payload.get("sid")
    if not session_id:
        return True
    row = db.session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == session_id)
    ).first()
    if row is None:
        return True
    session, user = row
    if not _session_is_live(session.revoked_at, session.expires_at, user.id, payload.get("sub")):
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




# --- the access cookie, checked without a round trip when nothing changed ---------------------
#
# Every request of a signed-in shopper carries the access cookie. Verifying it costs a JWT
# decode and a database statement (is the session still live, whose is it); both answers are
# kept in this process's memory:
#
# - a token string already verified (signature, type, claims) is not decoded again until it
#   expires: the same string always verifies the same way;
# - a session's live check is kept under the invalidation channel's stamp of the session's tag,
#   the user's tag and the "accounts" tag (app.core.invalidation). Every revocation, rotation,
#   account change or deletion announces one of them after its commit, so the next request in
#   any process checks the database again. Without the channel, or out of touch with it, every
#   request checks the database. A kept check also lapses after LIVE_CHECK_SECONDS and at the
#   session's own expiry.

ACCOUNTS_TAG = "accounts"
# Announced when an account's name changes or an account goes (pages that show names).
ACCOUNT_NAMES_TAG = "account-names"
LIVE_CHECK_SECONDS = 60.0
KEPT_TOKENS = 4096


class Identity(NamedTuple):
    """Who an access token speaks for, as checked against its live session."""

    user_id: int
    role: str
    email: str | None
    session_id: str


def session_tag(session_id: str) -> str:
    return f"session:{session_id}"


def user_tag(user_id: int | str) -> str:
    return f"user:{user_id}"


def _access_claims(token: str) -> dict:
    verified = invalidation.kept("access_tokens", KEPT_TOKENS)
    claims = verified.get(token)
    if claims is not None:
        return claims
    try:
        claims = decode_token(token)
    except (JWTExtendedException, PyJWTError) as exc:
        raise InvalidToken() from exc
    if claims.get("type") != "access" or not claims.get("sid") or not claims.get("sub"):
        raise InvalidToken()
    # A token without an expiry (JWT_ACCESS_TOKEN_EXPIRES=False) is verified again now and then.
    verified.put(token, None, float(claims.get("exp") or time.time() + LIVE_CHECK_SECONDS), claims)
    return claims


def authenticate_access_cookie() -> Identity | None:
    """The identity of the request's access cookie; None without one; InvalidToken when it
    is forged, expired, of the wrong type, or its session is no longer live."""
    token = request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])
    if not token:
        return None
    claims = _access_claims(token)
    session_id, subject = claims["sid"], claims["sub"]
    channel = invalidation.bus()
    epoch = channel.sync() if channel is not None else None
    stamp = None
    if epoch is not None:
        stamp = (
            epoch,
            channel.generation(ACCOUNTS_TAG),
            channel.generation(session_tag(session_id)),
            channel.generation(user_tag(subject)),
        )
        identity = invalidation.kept("live_sessions", KEPT_TOKENS).get(session_id, stamp)
        if identity is not None and str(identity.user_id) == subject:
            return identity
    row = db.session.execute(
        select(AuthSession.expires_at, AuthSession.revoked_at, User.id, User.role, User.email)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == session_id)
    ).first()
    if row is None or not _session_is_live(row.revoked_at, row.expires_at, row.id, subject):
        raise InvalidToken()
    identity = Identity(row.id, row.role, row.email, session_id)
    if stamp is not None:
        valid_until = min(row.expires_at.timestamp(), time.time() + LIVE_CHECK_SECONDS)
        invalidation.kept("live_sessions", KEPT_TOKENS).put(session_id, stamp, valid_until, identity)
    return identity


@event.listens_for(Session, "after_flush")
def _announce_account_changes(session: Session, _context) -> None:
    """A changed or deleted account or login session is announced after the commit."""
    for row in chain(session.dirty, session.deleted):
        if isinstance(row, User):
            invalidation.note_changed(session, user_tag(row.id))
            if row in session.deleted or sa_inspect(row).attrs.full_name.history.has_changes():
                invalidation.note_changed(session, ACCOUNT_NAMES_TAG)
        elif isinstance(row, AuthSession):
            invalidation.note_changed(session, session_tag(row.id))


@event.listens_for(Session, "do_orm_execute")
def _announce_bulk_account_changes(state: ORMExecuteState) -> None:
    """A bulk UPDATE or DELETE of accounts or login sessions (revocations, the guest
    clean-up) names no rows here: every kept check is announced obsolete."""
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ in (User, AuthSession):
        invalidation.note_changed(state.session, ACCOUNTS_TAG)
