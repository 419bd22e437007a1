"""Cache invalidation broadcast to every process, so cached reads need no round trip.

Each process keeps what it last served in memory (app.core.response_cache). It may serve
it again only while it knows nothing has changed, and it learns of changes through one
Redis pub/sub channel instead of asking Redis on every request:

- `v <namespace> <version>`: a VersionedCache namespace moved to `version` (every bump);
- `t <tag> ...`: rows behind these tags changed (`product:17` when its reserved stock moved),
  published after the commit of the transaction that changed them (note_changed());
- `flush`: forget everything (`flask cache-clear`, tests);
- `beat <token>`: a process checking that its own subscription still delivers.

Before every cached read the process applies the messages waiting on its subscription (no
round trip: one poll() of its socket says whether anything arrived, about a microsecond when
nothing did). Redis has written a writer's message to every
subscriber before the writer answers its client (see _publish), so a request that starts after
that answer, in any process, sees the change once the kernel has delivered it (at once, or
within moments on a busy machine: docs/decisions/0009-kept-responses.md).

Whenever the subscription may have missed something (not connected yet, a connection
error, or its heartbeat not echoed within HEARTBEAT_SECONDS) the process counts as out of
touch: cached reads go to the cache backend or the database, as without this channel, and
on reconnecting it starts a new epoch, which makes every entry it kept obsolete.

Without Redis (development's in-process cache, NullCache) there is no channel, and the
response cache is off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import uuid
from collections import OrderedDict

import redis
from flask import Flask, current_app, has_app_context
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
# After a quiet spell, how long a read waits for its heartbeat to come back.
ECHO_WAIT_SECONDS = 0.25
RETRY_AFTER_SECONDS = 5.0
_PENDING_TAGS = "shop_changed_tags"
_EXTENSION = "shop_invalidation"


class InvalidationBus:
    """This process's view of the channel. Thread-safe; rebuilt after a fork."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.client: redis.Redis | None = None
        self.pubsub = None
        self.epoch = 0
        self.versions: dict[str, int] = {}
        self.generations: dict[str, int] = {}
        self.retry_at = 0.0
        self.beat_token: str | None = None
        self.beat_due = 0.0
        self.beat_echoed_at = 0.0
        self.unsent: set[str] = set()
        # Tells without a read whether the subscription's socket holds anything new; None
        # when the client library's socket cannot be reached (then every sync reads).
        self.poller: select.poll | None = None
        # The client library may hold bytes it read but not yet returned as messages.
        self.maybe_buffered = False

    # --- connection ---------------------------------------------------------------------------

    def _client(self) -> redis.Redis:
        if self.pid != os.getpid():
            # A forked child must not share its parent's sockets.
            self.pid = os.getpid()
            self.client = None
            self.pubsub = None
            self.poller = None
        if self.client is None:
            # One retry on a fresh connection: a pooled connection that a NAT or a Redis
            # restart closed must not lose an announcement.
            self.client = redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=1, socket_timeout=1, socket_keepalive=True,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
        return self.client

    def _connect(self) -> None:
        self._client()
        # No retries on the subscription: a silent reconnect would have missed messages.
        listener = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=1, socket_timeout=1, socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = listener.pubsub(ignore_subscribe_messages=False)
        pubsub.subscribe(self.channel)
        confirmation = pubsub.get_message(timeout=1.0)
        if not confirmation or confirmation.get("type") != "subscribe":
            pubsub.close()
            raise ConnectionError("no subscription confirmation")
        self.pubsub = pubsub
        self.poller = None
        sock = getattr(pubsub.connection, "_sock", None)
        if sock is not None:
            self.poller = select.poll()
            self.poller.register(sock.fileno(), select.POLLIN)
        self.maybe_buffered = True
        self._forget_everything()
        self.beat_token = None
        self.beat_due = time.monotonic()
        self.beat_echoed_at = time.monotonic()
        if self.unsent:
            self._publish_tags(set())

    def _disconnect(self, why: Exception) -> None:
        if self.pubsub is not None:
            log.warning("cache invalidation channel lost (%s); reading without local caches",
                        why.__class__.__name__)
            with contextlib.suppress(Exception):  # already broken
                self.pubsub.close()
        self.pubsub = None
        self.poller = None
        self.retry_at = time.monotonic() + RETRY_AFTER_SECONDS
        self._forget_everything()

    def _forget_everything(self) -> None:
        self.epoch += 1
        self.versions.clear()
        self.generations.clear()

    # --- reading ------------------------------------------------------------------------------

    def sync(self) -> int | None:
        """Apply the messages waiting for this process. The current epoch when the local
        knowledge is trustworthy, None when this process is out of touch."""
        with self.lock:
            try:
                self._client()
                if self.pubsub is None:
                    if time.monotonic() < self.retry_at:
                        return None
                    self._connect()
                # Usually nothing has arrived: one poll() says so without a read.
                if self.maybe_buffered or self.poller is None or self.poller.poll(0):
                    self._drain()
                if not self._heartbeat():
                    return None
            except (redis.RedisError, OSError, ConnectionError) as exc:
                self._disconnect(exc)
                return None
            return self.epoch

    def _drain(self) -> None:
        """Apply every message already received, until the client library has none left."""
        while True:
            message = self.pubsub.get_message(timeout=0)
            if message is None:
                self.maybe_buffered = False
                return
            if message.get("type") == "message":
                self._apply(message["data"])

    def _apply(self, data: bytes) -> None:
        try:
            kind, _, rest = data.decode().partition(" ")
            if kind == "v":
                namespace, _, version = rest.partition(" ")
                version = int(version)
        except (UnicodeDecodeError, ValueError):
            # Not ours (another client on the channel): it cannot be trusted to mean
            # anything, so forget everything rather than guess.
            log.warning("unreadable message on the cache invalidation channel")
            self._forget_everything()
            return
        if kind == "v":
            self._learn(namespace, version)
        elif kind == "t":
            for tag in rest.split():
                self.generations[tag] = self.generations.get(tag, 0) + 1
        elif kind == "flush":
            self._forget_everything()
        elif kind == "beat" and rest == self.beat_token:
            self.beat_token = None
            self.beat_echoed_at = time.monotonic()

    def _heartbeat(self) -> bool:
        """Keep proving that the subscription delivers. True while a beat came back within
        the last two intervals. After a quiet spell the subscription may have died without
        a sound, so a beat is sent and waited for (briefly) before anything kept is trusted."""
        now = time.monotonic()
        if now >= self.beat_due:
            if self.beat_token is not None:
                raise ConnectionError("heartbeat not echoed")
            self._send_beat(now)
        if now - self.beat_echoed_at <= 2 * HEARTBEAT_SECONDS:
            return True
        if self.beat_token is None:
            self._send_beat(now)
        deadline = now + ECHO_WAIT_SECONDS
        while self.beat_token is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.maybe_buffered = True
            message = self.pubsub.get_message(timeout=remaining)
            if message is not None and message.get("type") == "message":
                self._apply(message["data"])
        self._drain()
        return True

    def _send_beat(self, now: float) -> None:
        self.beat_token = uuid.uuid4().hex
        self.beat_due = now + HEARTBEAT_SECONDS
        self._client().publish(self.channel, f"beat {self.beat_token}")

    def _learn(self, namespace: str, version: int) -> None:
        known = self.versions.get(namespace)
        if known is None or version > known:
            self.versions[namespace] = version

    def version(self, namespace: str) -> int | None:
        return self.versions.get(namespace)

    def learned(self, namespace: str, version: int, epoch: int) -> None:
        """A version read from the cache backend during `epoch` (ignored if a newer epoch
        began meanwhile: the reading may predate a message the new epoch lost)."""
        with self.lock:
            if epoch == self.epoch:
                self._learn(namespace, version)

    def generation(self, tag: str) -> int:
        return self.generations.get(tag, 0)

    # --- writing ------------------------------------------------------------------------------

    def _publish(self, message: str) -> None:
        """Publish and return once every subscriber's socket holds the message.

        Redis answers a PUBLISH in the same pass that writes the message to the subscribers,
        in no fixed order, so the answer alone could overtake the message. A command sent
        after that answer is read only once the pass is over: when the PING comes back, the
        message has been written to every subscriber's connection (the kernel may still
        deliver it a moment later). Writes pay this round trip so that reads never wait."""
        client = self._client()
        client.publish(self.channel, message)
        client.ping()

    def announce_version(self, namespace: str, version: int) -> None:
        with self.lock:
            self._learn(namespace, version)
            try:
                self._publish(f"v {namespace} {version}")
            except (redis.RedisError, OSError) as exc:
                # Other processes fall back once their own channel fails; ours forgets.
                self._disconnect(exc)

    def _publish_tags(self, tags: set[str]) -> None:
        """Publish `tags` with any that earlier attempts could not deliver; what fails stays
        in `unsent` for the next attempt of any kind (another announcement, a reconnect)."""
        pending = self.unsent | tags
        self._client()
        try:
            self._publish("t " + " ".join(sorted(pending)))
        except (redis.RedisError, OSError):
            self.unsent = pending
            raise
        self.unsent = set()

    def announce_tags(self, tags: set[str]) -> None:
        with self.lock:
            for tag in tags:
                self.generations[tag] = self.generations.get(tag, 0) + 1
            try:
                self._publish_tags(tags)
            except (redis.RedisError, OSError) as exc:
                self._disconnect(exc)

    def announce_flush(self) -> None:
        with self.lock:
            self._forget_everything()
            self._client()
            self._publish("flush")


class Kept:
    """What a process keeps while the channel says it is current: a thread-safe LRU of
    `key -> (stamp, valid until (epoch seconds), value)`. An entry is returned only for the
    stamp it was stored with, and only until it lapses."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.entries: OrderedDict = OrderedDict()

    def get(self, key, stamp=None):
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                return None
            if found[0] != stamp or found[1] <= time.time():
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return found[2]

    def put(self, key, stamp, valid_until: float, value) -> None:
        with self.lock:
            self.entries[key] = (stamp, valid_until, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


def kept(name: str, size: int, app: Flask | None = None) -> Kept:
    """The app's Kept store called `name` (made on first use)."""
    extensions = (app or current_app).extensions
    key = "shop_kept_" + name
    found = extensions.get(key)
    if found is None:
        found = extensions.setdefault(key, Kept(size))
    return found


def register_invalidation(app: Flask) -> None:
    """Give the app its channel when its caches live in Redis."""
    if app.config.get("CACHE_TYPE") != "RedisCache" or not app.config.get("CACHE_REDIS_URL"):
        return
    url = app.config["CACHE_REDIS_URL"]
    database = redis.connection.parse_url(url).get("db", 0)
    channel = f"{app.config['CACHE_KEY_PREFIX']}invalidate:{database}"
    app.extensions[_EXTENSION] = InvalidationBus(url, channel)


def bus(app: Flask | None = None) -> InvalidationBus | None:
    if app is None:
        if not has_app_context():
            return None
        app = current_app._get_current_object()
    return app.extensions.get(_EXTENSION)


def announce_now(*tags: str) -> None:
    """Announce `tags` at once, for a change already committed outside the session's
    transaction (a statement run in autocommit mode)."""
    channel = bus()
    if channel is not None:
        channel.announce_tags(set(tags))


def note_changed(session: Session, *tags: str) -> None:
    """Announce `tags` once `session`'s transaction commits (nothing if it rolls back)."""
    session.info.setdefault(_PENDING_TAGS, set()).update(tags)


@event.listens_for(Session, "after_commit")
def _announce_committed(session: Session) -> None:
    tags = session.info.pop(_PENDING_TAGS, None)
    channel = bus()
    if tags and channel is not None:
        channel.announce_tags(tags)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_TAGS, None)


def product_tag(product_id: int) -> str:
    return f"product:{product_id}"
