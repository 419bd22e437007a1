"""Old guests are deleted in the background, their reservations released and their orders
kept (contract §3.1)."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.auth.models import Role, User
from app.auth.tasks import delete_old_guests
from app.cart.models import Cart
from app.core.db import utcnow
from app.orders.models import Order
from tests.cart.support import make_carts, make_product, stock_invariant_violations, stock_of


def age_users(db_session, days):
    db_session.execute(update(User).values(created_at=utcnow() - timedelta(days=days)))
    db_session.commit()


def count(db_session, *conditions):
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(User).where(*conditions))


def test_old_guests_go_with_their_reservations_and_their_orders_stay(app, db_session):
    mug = make_product(app, stock=100)
    cart_ids = make_carts(app, 30, {mug: 2})
    guest_id = db_session.scalars(select(Cart.user_id).where(Cart.id == cart_ids[0])).one()
    db_session.add(Order(
        user_id=guest_id, stripe_session_id="cs_test_guest", customer_email="g@example.com", full_name="G",
        address_line_1="1", city="C", postcode="P", total_price=Decimal("5.00"),
    ))
    db_session.commit()
    age_users(db_session, 8)
    make_carts(app, 5, {mug: 1})  # young guests stay
    assert stock_of(app, mug) == (100, 65)
    with app.app_context():
        assert delete_old_guests(batch_size=7) == 30
    assert count(db_session, User.role == Role.GUEST) == 5
    assert stock_of(app, mug) == (100, 5)
    order = db_session.scalars(select(Order)).one()
    assert order.user_id is None and order.total_price == Decimal("5.00")
    assert stock_invariant_violations(app) == []


def test_guests_with_an_open_checkout_wait(app, db_session):
    mug = make_product(app, stock=10)
    make_carts(app, 2, {mug: 1}, locked_at=utcnow())
    age_users(db_session, 30)
    with app.app_context():
        assert delete_old_guests() == 0
    assert stock_of(app, mug) == (10, 2)


def test_customers_are_never_touched(app, db_session, accounts, client, admin_client):
    accounts.signup(client)
    age_users(db_session, 365)
    with app.app_context():
        assert delete_old_guests() == 0
    assert count(db_session) == 2


def test_two_runs_at_once_share_the_work(app, db_session):
    mug = make_product(app, stock=1000)
    make_carts(app, 300, {mug: 3})
    age_users(db_session, 10)
    results = []

    def run():
        with app.app_context():
            results.append(delete_old_guests(batch_size=25))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 300
    assert stock_of(app, mug) == (1000, 0)
    assert stock_invariant_violations(app) == []


@pytest.mark.worker
def test_the_real_worker_runs_the_cleanup(worker_app, db_session):
    mug = make_product(worker_app, stock=50)
    make_carts(worker_app, 12, {mug: 2})
    age_users(db_session, 9)
    with worker_app.app_context():
        task = worker_app.extensions["celery"].tasks["app.auth.tasks.delete_old_guest_accounts"]
        task.apply_async()
        task.apply_async()
    deadline = time.monotonic() + 30
    while count(db_session, User.role == Role.GUEST) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count(db_session, User.role == Role.GUEST) == 0
    assert stock_of(worker_app, mug) == (50, 0)
