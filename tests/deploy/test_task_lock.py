"""@single_instance: two runs of a periodic task never overlap, on the real Redis."""

from __future__ import annotations

import os
import threading
import time

import redis
from flask import Flask
from sqlalchemy import insert

from app.core.task_lock import single_instance
from app.emails.models import OutboxEmail

entered: list[str] = []
release_first = threading.Event()


@single_instance(timeout=30)
def clean_up(label: str) -> str:
    entered.append(label)
    if label == "first":
        release_first.wait(timeout=10)
    return f"{label} done"


@single_instance(timeout=0.4)
def quick_clean_up(pause: float) -> str:
    time.sleep(pause)
    return "done"


def _redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def test_a_second_run_started_while_the_first_runs_skips_and_a_later_run_goes_ahead(app):
    entered.clear()
    release_first.clear()
    _redis().delete(clean_up.lock_name)
    results = {}

    def first():
        with app.app_context():
            results["first"] = clean_up("first")

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "first" not in entered and time.monotonic() < deadline:
            time.sleep(0.01)
        with app.app_context():
            assert clean_up("second") is None
    finally:
        release_first.set()
        thread.join(timeout=10)
    assert results["first"] == "first done"
    assert entered == ["first"]
    with app.app_context():
        assert clean_up("third") == "third done"
    assert entered == ["first", "third"]


def test_a_run_that_raises_still_frees_the_lock(app):
    @single_instance(timeout=30, name="tests.failing-clean-up")
    def failing():
        raise RuntimeError("broken")

    with app.app_context():
        for _ in range(2):
            try:
                failing()
            except RuntimeError:
                pass
            else:
                raise AssertionError("the body did not run")
    assert not _redis().exists(failing.lock_name)


def test_a_lock_left_by_a_dead_worker_expires_after_its_timeout(app):
    # Another worker took the lock and died without releasing it.
    _redis().set(quick_clean_up.lock_name, "token-of-a-dead-worker", px=400)
    with app.app_context():
        assert quick_clean_up(0) is None
        time.sleep(0.5)
        assert quick_clean_up(0) == "done"


def test_a_run_that_outlasts_its_lock_leaves_the_next_runs_lock_alone(app):
    client = _redis()
    client.delete(quick_clean_up.lock_name)

    def slow_run():
        with app.app_context():
            quick_clean_up(0.7)

    thread = threading.Thread(target=slow_run)
    thread.start()
    time.sleep(0.5)  # the slow run's lock has expired meanwhile
    next_run_lock = client.lock(quick_clean_up.lock_name, timeout=5)
    assert next_run_lock.acquire(blocking=False)
    thread.join(timeout=5)
    # The slow run ended after the next run took the lock, and left it in place.
    assert client.get(quick_clean_up.lock_name) is not None
    next_run_lock.release()


def test_without_redis_the_task_just_runs():
    bare = Flask("no-redis")
    bare.config["REDIS_URL"] = None
    entered.clear()
    release_first.clear()
    with bare.app_context():
        release_first.set()
        assert clean_up("alone") == "alone done"
    assert entered == ["alone"]


def test_the_outbox_relay_skips_while_another_relay_holds_its_lock(app, mailgun):
    from app.emails.tasks import relay_outbox_emails
    from app.extensions import db

    with app.app_context():
        db.session.execute(
            insert(OutboxEmail).values(
                kind="test",
                to_address="stranded@example.com",
                subject="Stranded",
                text_body="Hi",
                created_at=db.func.now() - db.text("interval '1 hour'"),
            )
        )
        db.session.commit()
        db.session.remove()
        other_relay = _redis().lock(relay_outbox_emails.run.lock_name, timeout=30)
        assert other_relay.acquire(blocking=False)
        try:
            assert relay_outbox_emails.run() is None
            assert mailgun.requests_seen == 0
        finally:
            other_relay.release()
        assert relay_outbox_emails.run() == 1
    mailgun.wait_for(lambda m: m.to == "stranded@example.com")
