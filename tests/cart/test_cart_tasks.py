"""Cart housekeeping tasks (contract §3.3, §3.4): stale carts are emptied, abandoned checkouts
unlocked and drifted reservations repaired; in-process, through a real Celery worker on the
real Redis broker, twice at once, and killed halfway."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import redis
import requests
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.cart.models import Cart
from app.cart.tasks import (
    _release_one_stale_cart,
    release_stale_carts,
    repair_reserved_stock,
    unlock_stale_checkouts,
)
from app.catalog.models import Product
from app.core.db import utcnow
from app.extensions import db
from tests.cart.support import LiveServer, line_counts, make_carts, make_product, stock_of
from tests.conftest import ROOT

HOUR = timedelta(hours=1)


def run_in_process(app, task, **kwargs):
    with app.app_context():
        return task.run(**kwargs)


def locks_of(app, cart_ids) -> dict[int, object]:
    with app.app_context():
        rows = db.session.execute(
            select(Cart.id, Cart.locked_at).where(Cart.id.in_(cart_ids))
        ).all()
        db.session.remove()
    return dict(rows)


# --- waiting for the real worker ---------------------------------------------------------------


def wait_until_worker_idle(timeout: float = 60) -> None:
    """Wait until this run's queue is empty and the worker has acknowledged every message
    (tasks are acknowledged after they finish)."""
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.llen(queue) == 0 and broker.hlen("unacked") == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the Celery worker did not finish its tasks in time")


def dispatch(worker_app, task_name: str, times: int = 1) -> None:
    with worker_app.app_context():
        celery = worker_app.extensions["celery"]
        for _ in range(times):
            celery.tasks[task_name].apply_async()


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


# --- release_stale_carts -----------------------------------------------------------------------


def test_stale_unlocked_carts_are_emptied_and_their_units_released(app):
    mug = make_product(app, stock=20)
    pan = make_product(app, name="Pan", stock=20)
    stale = make_carts(app, 3, {mug: 2, pan: 1}, last_added_at=utcnow() - 2 * HOUR)
    fresh = make_carts(app, 2, {mug: 1}, last_added_at=utcnow() - timedelta(minutes=20))
    locked = make_carts(
        app, 1, {pan: 3}, last_added_at=utcnow() - 30 * HOUR, locked_at=utcnow() - HOUR
    )
    assert stock_of(app, mug) == (20, 8) and stock_of(app, pan) == (20, 6)

    result = run_in_process(app, release_stale_carts)

    assert result == {"carts": 3, "lines": 6}
    counts = line_counts(app, stale + fresh + locked)
    assert [counts[cart] for cart in stale] == [0, 0, 0]
    assert [counts[cart] for cart in fresh] == [1, 1]
    assert [counts[cart] for cart in locked] == [1]
    assert stock_of(app, mug) == (20, 2)
    assert stock_of(app, pan) == (20, 3)
    # Nothing left to do the second time.
    assert run_in_process(app, release_stale_carts) == {"carts": 0, "lines": 0}


def test_the_age_limit_is_configuration(app, monkeypatch):
    monkeypatch.setitem(app.config, "RESERVED_STOCK_CLEANUP_HOURS", 0.25)
    product = make_product(app)
    [cart] = make_carts(app, 1, {product: 2}, last_added_at=utcnow() - timedelta(minutes=20))
    assert run_in_process(app, release_stale_carts) == {"carts": 1, "lines": 1}
    assert line_counts(app, [cart]) == {cart: 0}


def test_a_cart_someone_is_changing_right_now_is_skipped_then_released_later(app):
    product = make_product(app)
    busy, idle = make_carts(app, 2, {product: 1}, last_added_at=utcnow() - 3 * HOUR)
    with app.app_context():
        connection = db.engine.connect()
    try:
        transaction = connection.begin()
        connection.execute(text("SELECT id FROM carts WHERE id = :id FOR UPDATE"), {"id": busy})
        result = run_in_process(app, release_stale_carts)
        assert result == {"carts": 1, "lines": 1}
        assert line_counts(app, [busy, idle]) == {busy: 1, idle: 0}
        transaction.rollback()
    finally:
        connection.close()
    assert run_in_process(app, release_stale_carts) == {"carts": 1, "lines": 1}
    assert line_counts(app, [busy, idle]) == {busy: 0, idle: 0}


def test_staleness_is_checked_again_under_the_cart_lock(app):
    """A shopper adding something between the task's listing and its release keeps the cart:
    the release itself checks the cart is still stale and unlocked."""
    product = make_product(app)
    [refreshed] = make_carts(app, 1, {product: 2}, last_added_at=utcnow())
    [locked] = make_carts(
        app, 1, {product: 1}, last_added_at=utcnow() - 5 * HOUR, locked_at=utcnow()
    )
    with app.app_context(), Session(db.engine) as session:
        for cart_id in (refreshed, locked):
            assert _release_one_stale_cart(session, cart_id, utcnow() - HOUR) == 0
        session.commit()
    assert line_counts(app, [refreshed, locked]) == {refreshed: 1, locked: 1}
    assert stock_of(app, product) == (10, 3)


def test_two_runs_in_process_at_once_release_each_cart_once(app):
    products = [make_product(app, name=f"P{n}", stock=1000) for n in range(3)]
    stale = make_carts(
        app, 150, {products[0]: 2, products[1]: 1}, last_added_at=utcnow() - 2 * HOUR
    )
    kept = make_carts(
        app, 20, {products[0]: 1, products[1]: 1, products[2]: 4}, last_added_at=utcnow()
    )
    results = []

    # Past the single-instance lock (which would make the second run skip), to show the
    # body itself never releases a cart twice.
    def run():
        with app.app_context():
            results.append(release_stale_carts.run.__wrapped__(batch_size=25))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(result["carts"] for result in results) == 150
    assert sum(result["lines"] for result in results) == 300
    assert set(line_counts(app, stale).values()) == {0}
    assert set(line_counts(app, kept).values()) == {3}
    assert stock_of(app, products[0]) == (1000, 20)
    assert stock_of(app, products[2]) == (1000, 80)


def test_killed_halfway_it_loses_nothing_and_the_next_run_finishes(app):
    product = make_product(app, stock=100_000)
    other = make_product(app, name="Other", stock=100_000)
    stale = make_carts(app, 1500, {product: 2, other: 1}, last_added_at=utcnow() - 2 * HOUR)
    kept = make_carts(app, 10, {product: 5}, last_added_at=utcnow())
    script = (
        "from app import create_app\n"
        "from app.cart.tasks import release_stale_carts\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    release_stale_carts.run.__wrapped__(batch_size=50)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ))
    try:
        wait_for(
            lambda: 0 in line_counts(app, stale).values() or process.poll() is not None, timeout=60
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    counts = line_counts(app, stale)
    released = sum(1 for count in counts.values() if count == 0)
    assert 0 < released < len(stale), "the run was not caught halfway"
    # Every cart was released completely or not at all, and the books still balance.
    assert set(counts.values()) == {0, 2}
    assert stock_of(app, product) == (100_000, 2 * (len(stale) - released) + 50)
    assert stock_of(app, other) == (100_000, len(stale) - released)

    result = run_in_process(app, release_stale_carts)
    assert result["carts"] == len(stale) - released
    assert set(line_counts(app, stale).values()) == {0}
    assert set(line_counts(app, kept).values()) == {1}
    assert stock_of(app, product) == (100_000, 50)


@pytest.mark.worker
def test_release_stale_carts_through_the_worker_twice_at_once(app, worker_app):
    products = [make_product(app, name=f"P{n}", stock=10_000) for n in range(2)]
    stale = make_carts(
        app, 300, {products[0]: 1, products[1]: 2}, last_added_at=utcnow() - 2 * HOUR
    )
    fresh = make_carts(app, 5, {products[0]: 3}, last_added_at=utcnow() - timedelta(minutes=5))
    locked = make_carts(
        app, 5, {products[1]: 1}, last_added_at=utcnow() - 9 * HOUR, locked_at=utcnow()
    )

    dispatch(worker_app, "app.cart.tasks.release_stale_carts", times=2)
    wait_for(lambda: set(line_counts(app, stale).values()) == {0})
    wait_until_worker_idle()

    assert set(line_counts(app, fresh).values()) == {1}
    assert set(line_counts(app, locked).values()) == {1}
    assert stock_of(app, products[0]) == (10_000, 15)
    assert stock_of(app, products[1]) == (10_000, 5)


# --- unlock_stale_checkouts --------------------------------------------------------------------


def test_checkouts_locked_too_long_are_unlocked(app):
    product = make_product(app)
    old = make_carts(app, 2, {product: 1}, last_added_at=utcnow(), locked_at=utcnow() - 25 * HOUR)
    recent = make_carts(
        app, 1, {product: 1}, last_added_at=utcnow(), locked_at=utcnow() - 23 * HOUR
    )
    assert run_in_process(app, unlock_stale_checkouts) == 2
    locks = locks_of(app, old + recent)
    assert [locks[cart] for cart in old] == [None, None]
    assert locks[recent[0]] is not None
    # Unlocking keeps the lines and their reservations.
    assert set(line_counts(app, old + recent).values()) == {1}
    assert stock_of(app, product) == (10, 3)
    assert run_in_process(app, unlock_stale_checkouts) == 0


@pytest.mark.worker
def test_unlock_stale_checkouts_through_the_worker(app, worker_app):
    product = make_product(app)
    old = make_carts(app, 3, {product: 1}, last_added_at=utcnow(), locked_at=utcnow() - 30 * HOUR)
    recent = make_carts(app, 1, {product: 1}, last_added_at=utcnow(), locked_at=utcnow())
    dispatch(worker_app, "app.cart.tasks.unlock_stale_checkouts", times=2)
    wait_for(lambda: all(lock is None for lock in locks_of(app, old).values()))
    wait_until_worker_idle()
    assert locks_of(app, recent)[recent[0]] is not None


# --- repair_reserved_stock ---------------------------------------------------------------------


def set_reserved(app, product_id, value):
    with app.app_context():
        db.session.execute(
            update(Product).where(Product.id == product_id).values(reserved_stock=value)
        )
        db.session.commit()
        db.session.remove()


def test_drifted_reservations_are_repaired_and_logged(app, caplog):
    too_high = make_product(app, name="High", stock=10)
    too_low = make_product(app, name="Low", stock=10)
    right = make_product(app, name="Right", stock=10)
    orphan = make_product(app, name="Orphan", stock=10)
    make_carts(app, 2, {too_high: 1, too_low: 3, right: 2}, last_added_at=utcnow())
    set_reserved(app, too_high, 9)
    set_reserved(app, too_low, 1)
    set_reserved(app, orphan, 4)

    with caplog.at_level(logging.WARNING, logger="app.cart.tasks"):
        result = run_in_process(app, repair_reserved_stock)

    assert result == {"checked": 4, "repaired": 3}
    assert stock_of(app, too_high) == (10, 2)
    assert stock_of(app, too_low) == (10, 6)
    assert stock_of(app, right) == (10, 4)
    assert stock_of(app, orphan) == (10, 0)
    repairs = [
        record.getMessage()
        for record in caplog.records
        if "repaired reserved_stock" in record.getMessage()
    ]
    assert len(repairs) == 3
    assert any(
        f"product {too_high}: was 9, cart lines hold 2, now 2" in message for message in repairs
    )
    assert run_in_process(app, repair_reserved_stock)["repaired"] == 0


@pytest.mark.worker
def test_repair_through_the_worker(app, worker_app):
    product = make_product(app, stock=10)
    make_carts(app, 3, {product: 1}, last_added_at=utcnow())
    set_reserved(app, product, 7)
    dispatch(worker_app, "app.cart.tasks.repair_reserved_stock", times=2)
    wait_for(lambda: stock_of(app, product) == (10, 3))
    wait_until_worker_idle()
    assert stock_of(app, product) == (10, 3)


def test_repair_never_touches_correct_books_while_shoppers_are_busy(app):
    """Repairs running non-stop beside a crowd of shoppers must find nothing to repair: a
    reservation change and its cart line are always seen together."""
    product = make_product(app, stock=40)
    repaired = []
    stop = threading.Event()

    def keep_repairing():
        while not stop.is_set():
            repaired.append(run_in_process(app, repair_reserved_stock)["repaired"])

    with LiveServer(app) as server:
        repairer = threading.Thread(target=keep_repairing)
        repairer.start()
        try:

            def shop(index):
                response = requests.post(
                    f"{server.url}/cart/{product}", json={"quantity": 1 + index % 3}, timeout=60
                )
                if response.status_code != 200:
                    return
                cookies = {"access_token": response.cookies.get("access_token")}
                line = response.json()["id"]
                requests.put(
                    f"{server.url}/cart/{line}",
                    json={"quantity": 1 + (index + 1) % 3},
                    cookies=cookies,
                    timeout=60,
                )
                if index % 2:
                    requests.delete(f"{server.url}/cart/{line}", cookies=cookies, timeout=60)

            workers = [threading.Thread(target=shop, args=(index,)) for index in range(40)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
        finally:
            stop.set()
            repairer.join(60)
    assert repaired and sum(repaired) == 0


@pytest.mark.parametrize(
    "task", ["release_stale_carts", "unlock_stale_checkouts", "repair_reserved_stock"]
)
def test_tasks_are_scheduled(task):
    from app.celery_app import TASK_MODULES, beat_schedule

    assert "app.cart.tasks" in TASK_MODULES
    schedules = {entry["task"]: entry["schedule"] for entry in beat_schedule().values()}
    assert f"app.cart.tasks.{task}" in schedules
    if task != "repair_reserved_stock":
        assert schedules[f"app.cart.tasks.{task}"] == timedelta(minutes=10)
