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

A `public=True` answer (the same for every caller, behind no guard) is also served at the
request edge: the next GET of the same raw path and query string is answered by
kept_answer() before Flask builds a request, routes it or runs any hook (app.core.edge
adds what its hooks would have added). It is checked against the same stamp, so it is
exactly as fresh as an answer served here.
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
# Where each public answer kept by this process lives, by the raw GET that asked for it.
_AT_EDGE = "edge_answers"
_AT_EDGE_SIZE = LOCAL_RESPONSES  # no more than the answers they point to


def cached_response(
    namespace: VersionedCache,
    *,
    tags: Callable[..., Iterable[str]] | None = None,
    per_caller: Callable[[], object] | None = None,
    kept_as: str | None = None,
    public: bool = False,
) -> Callable:
    """Keep the view's 200 JSON answers while `namespace` and the view's `tags(**kwargs)`
    are unchanged. Answers are the same for every caller unless `per_caller()` names whose
    answer it is (it then runs before anything is served, so it is also where the caller is
    authenticated). `kept_as` names a store of its own (default: the namespace's), so that
    pages of one kind cannot push out another's. `public` says the answer is the same for
    everybody and nothing runs before the view (no guard, no blueprint hook), so it may
    also be served at the request edge (module docstring)."""
    if public and per_caller is not None:
        raise ValueError("a per-caller answer is not public")

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
            tagged = tuple(tags(**kwargs)) if tags else ()
            stamp = _stamp(channel, (epoch, version), tagged)
            req = request._get_current_object()
            key = (req.path, req.query_string, caller)
            store = invalidation.kept(store_name, LOCAL_RESPONSES, app)
            at_edge = (namespace, tagged, store, key) if public and req.method == "GET" else None
            body = store.get(key, stamp)
            if body is not None:
                if at_edge is not None:
                    # Kept but not known at the edge (its note was pushed out, or a HEAD or
                    # another raw form of the path kept it): known from now on.
                    _note_at_edge(app, req.environ, at_edge)
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
                if at_edge is not None:
                    _note_at_edge(app, req.environ, at_edge)
            return response

        if public:
            # What app.core.edge.check_public_views looks for: this very function registered
            # as the view, with nothing above it.
            wrapper.answered_at_edge = wrapper
        return wrapper

    return decorator


def _stamp(channel, head: tuple[int, int], tags: tuple[str, ...]) -> tuple:
    """What a kept answer is stamped with: the epoch and namespace version (`head`), then
    the generation of each of the view's tags."""
    return (*head, *(channel.generation(tag) for tag in tags))


def _raw_request(environ: dict) -> tuple[str, str, str]:
    return (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""))


def _note_at_edge(app, environ: dict, where: tuple) -> None:
    """Tell the request edge where the public answer to this raw GET is kept. The note is
    only a pointer: the answer is served only while its own entry is current, and the note
    lapses after the namespace's TTL like the answer."""
    ttl = app.config[where[0].ttl_setting]
    invalidation.kept(_AT_EDGE, _AT_EDGE_SIZE, app).put(
        _raw_request(environ), None, time.time() + ttl, where
    )


def kept_answer(app, environ: dict) -> tuple[bytes, str] | None:
    """(body, path) of the public answer this process keeps for the raw GET `environ`, when
    it is still current; else None. Needs no app context and does no I/O beyond the
    channel's usual check (VersionedCache.known_stamp)."""
    found = invalidation.kept(_AT_EDGE, _AT_EDGE_SIZE, app).get(_raw_request(environ))
    if found is None:
        return None
    namespace, tags, store, key = found
    head = namespace.known_stamp(app)
    if head is None:
        return None
    body = store.get(key, _stamp(invalidation.bus(app), head, tags))
    return None if body is None else (body, key[0])
