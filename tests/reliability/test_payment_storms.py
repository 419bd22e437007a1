"""Payment storms: paid Checkout Sessions whose webhooks arrive several times each, at once,
out of order (expired before completed, completed twice under one event id and again under
another), mixed with success-page polls and the reconciliation. Every paid session becomes
exactly one order worth what was paid, and Stripe gets a 2xx for every delivery."""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.orders import checkout
from app.orders.models import Order
from tests.cart.support import make_product
from tests.reliability.support import (
    Shopper,
    post_webhook,
    record,
    run_bounded,
    scaled,
    signed_event,
)

SESSIONS = scaled(20, 50)
PRICES = ["12.34", "0.99", "149.95", "7.01"]


def test_every_paid_session_becomes_exactly_one_order_whatever_the_deliveries(app, backends, fake_stripe):
    products = [make_product(app, name=f"Item {price}", price=price, stock=1000) for price in PRICES]
    rng = random.Random(8)

    def open_checkout(index: int):
        shopper = Shopper(backends.urls[index % 2])
        for product in rng.sample(products, 1 + index % 3):
            assert shopper.add(product, 1 + index % 4).status_code == 200
        started = shopper.checkout()
        assert started.status_code == 200, started.text
        return shopper, started.json()["session_id"]

    opened = run_bounded(SESSIONS, open_checkout, workers=10, deadline_seconds=120)
    paid = {session_id: fake_stripe.pay(session_id) for _, session_id in opened}

    # Per session: an "expired" event carrying the paid session (a late or reordered
    # delivery), one "completed" event delivered twice, a second "completed" event with its
    # own id, and two polls of the success page.
    jobs: list[tuple[str, int, object]] = []
    expired_events: dict[int, tuple] = {}
    for number, (shopper, session_id) in enumerate(opened):
        session = paid[session_id]
        expired = signed_event(fake_stripe, "checkout.session.expired", dict(session, status="expired"))
        expired_events[number] = expired
        completed = signed_event(fake_stripe, "checkout.session.completed", session)
        completed_again = signed_event(fake_stripe, "checkout.session.completed", session)
        per_session = [
            ("webhook", number, expired),
            ("webhook", number, completed),
            ("webhook", number, completed),
            ("webhook", number, completed_again),
            ("poll", number, (shopper, session_id)),
            ("poll", number, (shopper, session_id)),
        ]
        if number % 2 == 0:
            rng.shuffle(per_session)
        # Odd sessions keep the list's order: the expiry is sent before every completion.
        jobs.extend(per_session)
    # Interleave sessions, keeping each session's own order of deliveries.
    by_session: dict[int, list] = {}
    for job in jobs:
        by_session.setdefault(job[1], []).append(job)
    slots = [job[1] for job in jobs]
    rng.shuffle(slots)
    cursor = dict.fromkeys(by_session, 0)
    ordered_jobs = []
    for number in slots:
        ordered_jobs.append(by_session[number][cursor[number]])
        cursor[number] += 1
    expired_first = [number for number, queue in by_session.items() if queue[0][2] is expired_events[number]]
    assert len(expired_first) >= SESSIONS // 2

    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    stop_reconciling = threading.Event()
    reconciliations = []

    def reconcile_meanwhile():
        while not stop_reconciling.is_set() and len(reconciliations) < 20:
            with app.app_context():
                reconciliations.append(checkout.reconcile())
                db.session.remove()
            time.sleep(0.2)

    def run(index: int):
        kind, number, payload = ordered_jobs[index]
        if kind == "webhook":
            body, headers = payload
            status = post_webhook(backends.urls[index % 2], body, headers)
        else:
            shopper, session_id = payload
            status = shopper.call("GET", "/order/stripe_session_status", params={"session_id": session_id}).status_code
        with lock:
            results.append((kind, status))
        return status

    reconcilers = [threading.Thread(target=reconcile_meanwhile) for _ in range(2)]
    began = time.monotonic()
    for thread in reconcilers:
        thread.start()
    try:
        run_bounded(len(ordered_jobs), run, workers=24, deadline_seconds=240)
    finally:
        stop_reconciling.set()
        for thread in reconcilers:
            thread.join(timeout=60)
    elapsed = time.monotonic() - began

    webhook_statuses = [status for kind, status in results if kind == "webhook"]
    poll_statuses = [status for kind, status in results if kind == "poll"]
    assert all(200 <= status < 300 for status in webhook_statuses), webhook_statuses
    assert set(poll_statuses) <= {200, 400}
    with app.app_context():
        orders = db.session.scalars(select(Order)).all()
        found = {order.stripe_session_id: order.total_price for order in orders}
        db.session.remove()
    assert len(orders) == SESSIONS
    assert set(found) == set(paid)
    for session_id, session in paid.items():
        assert found[session_id] == Decimal(session["amount_total"]) / 100
        assert found[session_id].as_tuple().exponent == -2
    # After the storm every success page says the order is there.
    for shopper, session_id in opened:
        response = shopper.call("GET", "/order/stripe_session_status", params={"session_id": session_id})
        assert response.json()["success"] is True
    record(
        "payment_storms",
        paid_sessions=SESSIONS,
        webhooks_delivered=len(webhook_statuses),
        webhooks_answered_2xx=len(webhook_statuses),
        success_page_polls=len(poll_statuses) + SESSIONS,
        reconciliation_runs=len(reconciliations),
        orders=len(orders),
        duplicate_orders=len(orders) - len(set(found)),
        missing_orders=len(set(paid) - set(found)),
        seconds=round(elapsed, 1),
    )
