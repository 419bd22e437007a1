"""Reading another process's view of a change just made.

A write announces itself on the invalidation channel before it answers (app.core.invalidation),
and Redis has written the message to every subscriber by then. The kernel may still hand it to
the subscriber's socket a moment later when the machine is busy, so a test that reads through
another app in the same instant allows the message that long to arrive. A process that was
never told (a lost announcement) keeps its old answer for minutes and still fails here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from app.core import invalidation

T = TypeVar("T")

# Far longer than any delivery on this machine, far shorter than anything kept lives.
DELIVERY_SECONDS = 2.0


def seen_soon(read: Callable[[], T], expected: T, *, app=None) -> T:
    """`read()` until it gives `expected`; fails after DELIVERY_SECONDS, naming what the
    reading app's channel knew (`app`) so that a failure says whether it was out of touch."""
    deadline = time.monotonic() + DELIVERY_SECONDS
    while True:
        value = read()
        if value == expected:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"still {value!r}, not {expected!r}; {_channel_state(app)}")
        time.sleep(0.01)


def _channel_state(app) -> str:
    channel = invalidation.bus(app) if app is not None else None
    if channel is None:
        return "no channel state given"
    return (f"channel: subscribed={channel.pubsub is not None} epoch={channel.epoch} "
            f"generations={dict(channel.generations)} versions={dict(channel.versions)} "
            f"unsent={sorted(channel.unsent)}")
