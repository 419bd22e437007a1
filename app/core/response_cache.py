"""Whole responses kept in process memory, for the public reads every visitor makes.

`@cached_response(NAMESPACE)` sits between a view's route (and its role guard) and its
flask-smorest decorators:
on a hit the stored JSON body is answered at once, without parsing arguments, reading the
cache backend or serialising anything. An entry is keyed by path and query string and
stamped (and, for per-caller answers, keyed by the caller) with what it was computed under: the invalidation channel's epoch, the namespace's
version and, for per-item tags (`product:17`), their generations. It is served only while
all of these are unchanged (app.core.invalidation explains how a process learns of changes
without a round trip), so a write made through the API is never hidden by it.

Only 200 answers are kept; errors are computed every time. With no invalidation channel
(development without Redis, NullCache) or while out of touch with it, every request runs
the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import wraps

from flask import current_app, request

from app.core import invalidation
from app.core.versioned_cache import VersionedCache

# Responses each process keeps per namespace (a few KB each).
LOCAL_RESPONSES = 2048
JSON_CONTENT_TYPE = "application/json"


def cached_response(
    namespace: VersionedCache,
    *,
    tags: Callable[..., Iterable[str]] | None = None,
    per_caller: Callable[[], object] | None = None,
    kept_as: str | None = None,
) -> Callable:
    """Keep the view's 200 JSON answers while `namespace` and the view's `tags(**kwargs)`
    are unchanged. Answers are the same for every caller unless `per_caller()` names whose
    answer it is (it then runs before anything is served, so it is also where the caller is
    authenticated). `kept_as` names a store of its own (default: the namespace's), so that
    pages of one kind cannot push out another's."""

    store_name = f"{kept_as or namespace.namespace}_responses"

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            caller = per_caller() if per_caller is not None else None
            app = current_app._get_current_object()
            channel = invalidation.bus(app)
            if channel is None:
                return view(*args, **kwargs)
            epoch, version = namespace.current_stamp(app)
            if epoch is None:
                return view(*args, **kwargs)
            stamp = (epoch, version, *(channel.generation(tag) for tag in (tags(**kwargs) if tags else ())))
            req = request._get_current_object()
            key = (req.path, req.query_string, caller)
            store = invalidation.kept(store_name, LOCAL_RESPONSES, app)
            body = store.get(key, stamp)
            if body is not None:
                # content_type rather than mimetype: the same header, without working out
                # whether a charset belongs to it on every hit.
                return app.response_class(body, content_type=JSON_CONTENT_TYPE)
            response = view(*args, **kwargs)
            if (
                response.status_code == 200
                and response.mimetype == "application/json"
                and not response.is_streamed
            ):
                ttl = app.config[namespace.ttl_setting]
                store.put(key, stamp, time.time() + ttl, response.get_data())
            return response

        return wrapper

    return decorator
