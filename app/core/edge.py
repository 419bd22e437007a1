"""The request edge: what every request passes through before and after its view.

One `before_request` and one `after_request` function, not one per concern, because Flask
pays for every registered hook on every request, and these run on every request the shop
answers (the cached catalogue pages cost little more than these hooks):

- before: the request id (an incoming valid `X-Request-ID`, else a new one) and the start
  time; then the frontend secret and the cross-site refusal (app.core.security);
- after: CORS for the storefront's origin (contract §1.7), `Vary: Origin`, the request id
  header, and one access-log line.

Before either, ShopFlask.wsgi_app answers a GET whose public answer this process keeps
(app.core.response_cache) by itself, with what these hooks would have added and checked:
such a request never reaches Flask's routing, contexts or hooks, so the catalogue pages
every visitor reads cost less than a hello-world Flask request. Anything else, and any
kept answer that is not current, goes through Flask as usual.

CORS is this small policy rather than a general extension: one allowed origin, credentials,
and preflights answered by Flask's automatic OPTIONS with the methods, headers and max-age
below.
"""

from __future__ import annotations

import logging
import random
import time

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface

from app.core.logging import log_access, request_user_id
from app.core.response_cache import JSON_CONTENT_TYPE, kept_answer
from app.core.security import check_frontend_secret, check_same_origin, frontend_secret_supplied

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
MAX_REQUEST_ID_LENGTH = 128

CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Content-Type, Authorization, X-Frontend-Secret, X-Request-ID"
CORS_MAX_AGE = "600"

def request_id_from(incoming: str) -> str:
    """The incoming id when it is a sane token (letters, digits, dashes), else a new one.

    A new id only has to be unique, not secret (it is a label for tracing a request through
    the logs), so it comes from the process's seeded generator rather than the kernel's: no
    system call per request. Python reseeds that generator in every forked child."""
    if 0 < len(incoming) <= MAX_REQUEST_ID_LENGTH and incoming.replace("-", "").isalnum():
        return incoming
    return f"{random.getrandbits(128):032x}"


def cors_headers(environ: dict, allowed_origin: str, method: str) -> list[tuple[str, str]]:
    """The CORS headers of an answer: a grant for the storefront's origin only."""
    origin = environ.get("HTTP_ORIGIN")
    if origin is None or origin.rstrip("/") != allowed_origin:
        return []
    headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
    if method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
        headers += [("Access-Control-Allow-Methods", CORS_METHODS),
                    ("Access-Control-Allow-Headers", CORS_HEADERS),
                    ("Access-Control-Max-Age", CORS_MAX_AGE)]
    return headers


class ShopFlask(Flask):
    """Flask, with kept public answers served before Flask is involved (module docstring),
    and whether a hook or view is a coroutine function looked up once per function instead
    of on every call: Flask asks it of the view and of every before-request, after-request
    and teardown function of every request (ensure_sync), and the answer never changes. The
    shop's functions are all synchronous."""

    _known_sync_limit = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._known_sync: set = set()
        # Set by register_edge: the storefront's origin, when kept answers are served here.
        self.edge_origin: str | None = None

    def wsgi_app(self, environ, start_response):
        if self.edge_origin is not None and environ.get("REQUEST_METHOD") == "GET":
            answered = self._answer_kept(environ, start_response)
            if answered is not None:
                return answered
        return super().wsgi_app(environ, start_response)

    def _answer_kept(self, environ, start_response):
        """The kept public answer to this GET with the edge's headers and access-log line,
        or None to let Flask answer (nothing kept or current, or the frontend secret
        missing: Flask then refuses the request in the usual way)."""
        started = time.perf_counter()
        config = self.config
        if config["ENFORCE_FRONTEND_SECRET"] and not frontend_secret_supplied(environ, config):
            return None
        try:
            found = kept_answer(self, environ)
        except Exception:  # noqa: BLE001 - Flask answers instead, with its error handling
            log.exception("kept answer lookup failed")
            return None
        if found is None:
            return None
        body, path = found
        request_id = request_id_from(environ.get(_REQUEST_ID_ENVIRON, ""))
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body))),
                   *cors_headers(environ, self.edge_origin, "GET"),
                   ("Vary", "Origin"), (REQUEST_ID_HEADER, request_id)]
        start_response("200 OK", headers)
        log_access("GET", path, 200, started, request_id, None)
        return [body]

    def ensure_sync(self, func):
        known = self._known_sync
        try:
            if func in known:
                return func
        except TypeError:  # unhashable: ask every time
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if wrapped is func and len(known) < self._known_sync_limit:
            known.add(func)
        return wrapped


def register_edge(app: Flask) -> None:
    allowed_origin = app.config["FRONTEND_ORIGIN_URL"].rstrip("/")
    app.session_interface = NoCookieSessions()
    if isinstance(app, ShopFlask) and not app.config.get("METRICS_ENABLED"):
        # With metrics on, every answer must pass Flask's hooks to be counted.
        app.edge_origin = allowed_origin

    # The hooks take the request and `g` out of their proxies once each, and use the app they
    # are registered on: they run on every request, and a proxy lookup costs about as much
    # as the line it serves.
    @app.before_request
    def _edge_before():
        req = request._get_current_object()
        context = g._get_current_object()
        context.request_started = time.perf_counter()
        context.request_id = request_id_from(req.environ.get(_REQUEST_ID_ENVIRON, ""))
        check_frontend_secret(req, app.config)
        check_same_origin(req)

    @app.after_request
    def _edge_after(response):
        req = request._get_current_object()
        context = g._get_current_object()
        environ = req.environ
        headers = response.headers
        if "HTTP_ORIGIN" in environ:
            for name, value in cors_headers(environ, allowed_origin, req.method):
                headers[name] = value
        if "Vary" in headers:
            response.vary.add("Origin")
        else:
            headers["Vary"] = "Origin"
        request_id = context.get("request_id") or "-"
        headers[REQUEST_ID_HEADER] = request_id
        log_access(req.method, req.path, response.status_code, context.get("request_started"),
                   request_id, request_user_id(environ, context))
        return response


def check_public_views(app: Flask) -> None:
    """Make sure nothing is meant to run before a view whose answers the edge serves without
    Flask: no decorator above its cached_response(public=True) (a guard would be skipped) and
    no hook of its blueprints (a programming error: refuse to start), and no rate limit for
    every route (configuration: serve nothing at the edge, with a warning)."""
    for endpoint, view in app.view_functions.items():
        marker = getattr(view, "answered_at_edge", None)
        if marker is None:
            continue
        if marker is not view:
            raise RuntimeError(f"{endpoint}: cached_response(public=True) must be the route's "
                               "first decorator; what sits above it would be skipped")
        parts = endpoint.split(".")[:-1]
        for depth in range(1, len(parts) + 1):
            if app.before_request_funcs.get(".".join(parts[:depth])):
                raise RuntimeError(f"{endpoint}: its blueprint has a before_request hook, "
                                   "which answers kept at the edge would skip")
    if isinstance(app, ShopFlask) and any(
        app.config.get(key) for key in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")
    ):
        log.warning("a rate limit applies to every route: kept answers are not served at the "
                    "request edge")
        app.edge_origin = None


class NoCookieSessions(SecureCookieSessionInterface):
    """The shop keeps no state in Flask's signed session cookie (logins are JWT cookies tied
    to `auth_sessions` rows), so no request pays for opening one. Writing to `flask.session`
    raises, which makes an accidental use loud."""

    def open_session(self, app, request):
        return None  # Flask then uses make_null_session()

    def save_session(self, app, session, response):
        return None
