"""Stock races across processes: shoppers spread over two gunicorn backends (several workers
each) on one database fight for ten units through add-to-cart, quantity changes and paid
checkouts. Afterwards the books must balance: nothing oversold, nothing negative, and every
reservation backed by a cart line."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import text

from app.extensions import db
from tests.cart.support import make_product, stock_invariant_violations
from tests.reliability.support import (
    Shopper,
    post_webhook,
    record,
    run_bounded,
    scaled,
    signed_event,
)

SHOPPERS = scaled(60, 200)
ROUNDS = scaled(1, 3)
STOCK = 10


def books(app, product_id: int) -> dict:
    with app.app_context():
        row = db.session.execute(
            text(
                "SELECT p.stock, p.reserved_stock, "
                "(SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE product_id = p.id) AS sold, "
                "(SELECT COALESCE(SUM(quantity), 0) FROM cart_products WHERE product_id = p.id) AS in_carts, "
                "(SELECT COUNT(*) FROM orders) AS orders, "
                "(SELECT COUNT(DISTINCT stripe_session_id) FROM orders) AS distinct_sessions "
                "FROM products p WHERE p.id = :id"
            ),
            {"id": product_id},
        ).one()
        db.session.remove()
    return row._asdict()


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_shoppers_on_two_backends_never_oversell_ten_units(app, backends, fake_stripe, round_number):
    product = make_product(app, stock=STOCK, price="9.50")
    start = threading.Barrier(min(SHOPPERS, 40))
    paid_sessions: list[tuple[str, int]] = []
    lock = threading.Lock()
    shoppers: list[Shopper] = []
    webhook_statuses: list[int] = []

    def shop(index: int):
        rng = random.Random(index + 1000 * round_number)
        shopper = Shopper(backends.urls[index % 2])
        with lock:
            shoppers.append(shopper)
        if index < 40:
            start.wait(timeout=60)
        if shopper.add(product, rng.choice([1, 1, 2])).status_code != 200:
            return "refused"
        line = shopper.line_id(product)
        # Ask for more and then for less: each change races every other shopper's.
        for quantity in rng.sample([1, 2, 3], 2):
            shopper.call("PUT", f"/cart/{line}", json={"quantity": quantity})
        if rng.random() < 0.25:
            shopper.call("DELETE", f"/cart/{line}")
            return "changed mind"
        started = shopper.checkout()
        if started.status_code != 200:
            return "checkout refused"
        session_id = started.json()["session_id"]
        paid = fake_stripe.pay(session_id)
        body, headers = signed_event(fake_stripe, "checkout.session.completed", paid)
        status = post_webhook(backends.urls[(index + 1) % 2], body, headers)
        with lock:
            webhook_statuses.append(status)
            paid_sessions.append((session_id, paid["amount_total"]))
        return "paid"

    began = time.monotonic()
    outcomes = run_bounded(SHOPPERS, shop, workers=40, deadline_seconds=240)
    elapsed = time.monotonic() - began

    statuses = [status for shopper in shoppers for status in shopper.statuses] + webhook_statuses
    found = books(app, product)
    assert [status for status in statuses if status >= 500] == []
    assert webhook_statuses == [200] * len(webhook_statuses)
    assert found["sold"] <= STOCK
    assert found["stock"] == STOCK - found["sold"] >= 0
    assert 0 <= found["reserved_stock"] <= found["stock"]
    assert found["reserved_stock"] == found["in_carts"]
    # Every paid checkout became exactly one order, worth what was paid.
    assert found["orders"] == found["distinct_sessions"] == len(paid_sessions)
    assert found["sold"] == sum(amount for _, amount in paid_sessions) // 950
    assert outcomes.count("paid") == len(paid_sessions) > 0
    assert stock_invariant_violations(app) == []
    record(
        "stock_races",
        races=1,
        shoppers=SHOPPERS,
        backends="2 gunicorn instances x 2 workers x 4 threads",
        requests_sent=len(statuses),
        server_errors=0,
        paid_orders=len(paid_sessions),
        units_sold=found["sold"],
        units_stocked=STOCK,
        oversold_units=max(0, found["sold"] - STOCK),
        seconds=round(elapsed, 1),
    )
