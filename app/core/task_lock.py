"""One run at a time for periodic tasks: a Redis lock around the task body.

Beat may fire a clean-up while the previous run is still busy, and a task redelivered after a
worker died may overlap the next scheduled one. `@single_instance(timeout=...)` makes every
other run skip (and log) while one holds the lock. The lock carries a random token, so a run
only ever releases its own lock, and it expires after `timeout` seconds, so a worker killed
while holding it blocks the task for that long at most. Choose `timeout` longer than the
slowest run you expect.

Without REDIS_URL (the embedded default, tasks run in-process) there is nothing to share, and
the task simply runs.

Place it under the Celery decorator:

    @shared_task(ignore_result=True)
    @single_instance(timeout=600)
    def release_stale_carts(): ...
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import wraps

import redis
from flask import current_app

log = logging.getLogger(__name__)

KEY_PREFIX = "shop:task-lock:"

_clients: dict[str, redis.Redis] = {}
_clients_guard = threading.Lock()


def _client(url: str) -> redis.Redis:
    with _clients_guard:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
            _clients[url] = client
        return client


def single_instance(*, timeout: float, name: str | None = None) -> Callable:
    """Decorator: run the function only if no other run (in any worker) holds its lock;
    otherwise return None at once. `name` defaults to the function's dotted path."""

    def decorator(func: Callable) -> Callable:
        lock_name = KEY_PREFIX + (name or f"{func.__module__}.{func.__qualname__}")

        @wraps(func)
        def wrapper(*args, **kwargs):
            url = current_app.config.get("REDIS_URL")
            if not url:
                return func(*args, **kwargs)
            # thread_local=False: the token is kept on this Lock object, which no other call
            # shares, so it also works when a thread pool runs the task.
            lock = _client(url).lock(lock_name, timeout=timeout, blocking=False, thread_local=False)
            if not lock.acquire():
                log.info("%s skipped: another run holds %s", func.__name__, lock_name)
                return None
            try:
                return func(*args, **kwargs)
            finally:
                try:
                    lock.release()
                except redis.exceptions.LockError:
                    # The run outlasted `timeout` and the lock expired (or another run holds
                    # it now): theirs is left alone.
                    log.warning("%s ran longer than its %ss lock", func.__name__, timeout)
                except redis.exceptions.RedisError as exc:
                    log.warning(
                        "%s: lock not released (%s); it expires in %ss",
                        func.__name__,
                        exc.__class__.__name__,
                        timeout,
                    )

        wrapper.lock_name = lock_name
        return wrapper

    return decorator
