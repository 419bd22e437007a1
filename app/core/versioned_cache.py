"""Read caches that are never stale after a write made through the API.

Every cache key contains the namespace's current version, a counter kept in the cache
itself. Any write that a cached read shows calls `bump()` after its commit: the next read
looks under the new version, misses, and reads the database. Old entries are never looked
up again and simply expire. Nothing is ever deleted by pattern, so invalidation costs one
INCR whatever the cache holds (docs/decisions/0005-versioned-caches.md).

If the cache backend fails, reads go to the database (and still answer) and the failure is
remembered for a few seconds so a dead Redis costs one attempt, not one per request. A bump
that could not be delivered is delivered before this process uses the cache again.

An entry never changes under its versioned key, so each process also keeps the entries it
used last (LOCAL_ENTRIES, same lifetime as in the cache): a hit then costs one round trip
(the version) instead of two, and no unpickling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app

from app.core import invalidation
from app.extensions import cache

log = logging.getLogger(__name__)

T = TypeVar("T")

# After a cache failure, skip the cache for this long before trying again.
RETRY_AFTER_SECONDS = 5.0
# Entries each process keeps in memory, per namespace (they are small: a page, a list).
LOCAL_ENTRIES = 256


class _CacheHealth:
    """Per-application memory of cache failures and of an undelivered bump."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.bump_pending = False
        self.local = invalidation.Kept(LOCAL_ENTRIES)

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, operation: str, exc: Exception) -> None:
        with self.lock:
            self.down_until = time.monotonic() + RETRY_AFTER_SECONDS
        log.warning(
            "%s cache unavailable (%s: %s); reading the database",
            self.namespace, operation, exc.__class__.__name__,
        )


class VersionedCache:
    """One namespace of version-keyed cache entries (e.g. the catalogue, the dashboard)."""

    def __init__(self, namespace: str, *, ttl_setting: str):
        self.namespace = namespace
        self.version_key = f"{namespace}:version"
        self.health_key = f"{namespace}_cache_health"  # in app.extensions
        self.ttl_setting = ttl_setting

    def _health(self, app: Flask | None = None) -> _CacheHealth:
        extensions = (app or current_app).extensions
        health = extensions.get(self.health_key)
        if health is None:
            health = extensions.setdefault(self.health_key, _CacheHealth(self.namespace))
        return health

    @staticmethod
    def _backend():
        return cache.cache

    def _increment(self) -> int:
        backend = self._backend()
        # A missing counter (first use, eviction, flushed cache) restarts from the clock,
        # above any value it had before, so entries under an old version are never found.
        backend.add(self.version_key, time.time_ns(), timeout=0)
        return int(backend.inc(self.version_key))

    def bump(self) -> None:
        """Make every cached read of this namespace obsolete. Call after the commit of a
        write that such a read shows. Never raises: when the cache is down the bump is
        delivered later (and entries expire on their own)."""
        health = self._health()
        if not health.usable():
            health.bump_pending = True
            return
        try:
            version = self._increment()
            health.bump_pending = False
        except Exception as exc:  # noqa: BLE001 - the write already succeeded
            health.bump_pending = True
            health.failed("bump", exc)
            return
        channel = invalidation.bus()
        if channel is not None:
            channel.announce_version(self.namespace, version)

    def current_version(self) -> int | None:
        """The namespace's version, or None when the cache cannot be used right now."""
        return self.current_stamp()[1]

    def current_stamp(self, app: Flask | None = None) -> tuple[int | None, int | None]:
        """(epoch, version): the version as above; the invalidation channel's epoch when the
        version is known from that channel, so that entries kept in this process may be
        served (None when this process is out of touch with it). `app` saves looking up the
        current app for a caller that holds it."""
        health = self._health(app)
        channel, epoch, known = self._from_channel(app, health)
        if known is not None:
            return epoch, known
        version = self._read_version(health)
        if epoch is not None and version is not None:
            channel.learned(self.namespace, version, epoch)
        return (epoch if version is not None else None), version

    def known_stamp(self, app: Flask) -> tuple[int, int] | None:
        """(epoch, version) when this process knows both from the invalidation channel
        alone, without asking the cache backend; else None. For a caller outside any app
        context (the request edge's kept answers, app.core.response_cache)."""
        _channel, epoch, known = self._from_channel(app, self._health(app))
        return None if known is None else (epoch, known)

    def _from_channel(self, app: Flask | None, health: _CacheHealth):
        """(channel, epoch, version) as far as the invalidation channel tells them: no epoch
        while this process is out of touch or its own bump is undelivered, no version until
        it has learned one in this epoch."""
        channel = invalidation.bus(app)
        epoch = channel.sync() if channel is not None and not health.bump_pending else None
        known = channel.version(self.namespace) if epoch is not None else None
        return channel, epoch, known

    def _read_version(self, health: _CacheHealth) -> int | None:
        if not health.usable():
            return None
        try:
            if health.bump_pending:
                bumped = self._increment()
                health.bump_pending = False
                channel = invalidation.bus()
                if channel is not None:
                    channel.announce_version(self.namespace, bumped)
            version = self._backend().get(self.version_key)
            if version is None:
                self._backend().add(self.version_key, time.time_ns(), timeout=0)
                version = self._backend().get(self.version_key)
            return int(version) if version is not None else None
        except Exception as exc:  # noqa: BLE001
            health.failed("version", exc)
            return None

    def key(self, name: str, params: dict[str, Any], version: int) -> str:
        encoded = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(encoded.encode()).hexdigest()[:32]
        return f"{self.namespace}:v{version}:{name}:{digest}"

    def cached_read(self, name: str, params: dict[str, Any], loader: Callable[[], T]) -> T:
        """`loader()`'s result, from the cache when this version already computed it.
        Results must be picklable and never None, and callers must not change them (the
        process shares them between requests); exceptions are not cached."""
        version = self.current_version()
        if version is None:
            return loader()
        key = self.key(name, params, version)
        health = self._health()
        ttl = current_app.config[self.ttl_setting]
        hit = health.local.get(key)
        if hit is not None:
            return hit
        try:
            hit = self._backend().get(key)
        except Exception as exc:  # noqa: BLE001
            health.failed("get", exc)
            return loader()
        if hit is not None:
            health.local.put(key, None, time.time() + ttl, hit)
            return hit
        value = loader()
        try:
            self._backend().set(key, value, timeout=ttl)
        except Exception as exc:  # noqa: BLE001
            health.failed("set", exc)
        else:
            health.local.put(key, None, time.time() + ttl, value)
        return value
