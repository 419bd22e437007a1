"""The order counters behind the admin dashboard and the admin order list: they agree with
the orders themselves after every kind of order write, across UK month boundaries, under
concurrent webhooks, after a rollback, after the migration's backfill and after a recount,
and reading them costs the same number of statements at any number of orders."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.auth.tasks import delete_old_guests
from app.core.db import utcnow
from app.extensions import db
from app.orders.models import SHOP_TIME_ZONE, Order, OrderItem
from tests.cart.support import LiveServer, count_rows
from tests.conftest import new_client

UK = SHOP_TIME_ZONE


def this_year() -> int:
    return utcnow().astimezone(UK).year


# --- the figures, computed independently from the orders ----------------------------------------


def figures_from_orders(app) -> dict:
    """What the dashboard showed before the counters: aggregate SQL over every order."""
    with app.app_context():
        overall, ongoing, revenue = db.session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('Processing', 'Shipped')), "
                "coalesce(sum(total_price), 0) FROM orders"
            )
        ).one()
        months = dict(
            db.session.execute(
                text(
                    "SELECT extract(month FROM timezone('Europe/London', created_at))::int, count(*) "
                    "FROM orders WHERE extract(year FROM timezone('Europe/London', created_at)) = :year "
                    "GROUP BY 1"
                ),
                {"year": this_year()},
            ).all()
        )
        users = db.session.scalar(text("SELECT count(*) FROM users"))
        db.session.remove()
    return {
        "total_users": users,
        "ongoing_orders": ongoing,
        "orders_overall": overall,
        "total_revenue": float(revenue),
        "graph_data": {str(month): months.get(month, 0) for month in range(1, 13)},
    }


def buckets_from_orders(rows) -> dict:
    """{(first day of the UK month, status): (orders, pence)} computed in Python."""
    totals = defaultdict(lambda: [0, 0])
    for created_at, status, total in rows:
        local = created_at.astimezone(UK)
        bucket = totals[(date(local.year, local.month, 1), status)]
        bucket[0] += 1
        bucket[1] += int(Decimal(total) * 100)
    return {key: tuple(value) for key, value in totals.items()}


def counter_rows(connection) -> dict:
    rows = connection.execute(
        text("SELECT month, status, orders, revenue_pence FROM order_stats")
    ).all()
    return {
        (month if isinstance(month, date) else date.fromisoformat(month), status): (orders, pence)
        for month, status, orders, pence in rows
        if orders or pence
    }


def assert_counters_agree(app):
    with app.app_context():
        orders = db.session.execute(text("SELECT created_at, status, total_price FROM orders")).all()
        assert counter_rows(db.session) == buckets_from_orders(orders)
        db.session.remove()


def assert_dashboard_agrees(app, admin_client) -> dict:
    shown = admin_client.get("/user/admin/dashboard").get_json()
    assert shown == figures_from_orders(app)
    assert_counters_agree(app)
    return shown


def add_order(db_session, created_at, *, status="Processing", total="10.00", email="d@example.com"):
    order = Order(
        stripe_session_id=f"cs_test_{uuid.uuid4().hex}", customer_email=email, full_name="D",
        address_line_1="1", city="C", postcode="P", total_price=Decimal(total), status=status,
        created_at=created_at,
    )
    order.items.append(OrderItem(name="X", price=Decimal(total), quantity=1))
    db_session.add(order)
    return order


def buy(shop, client, buyer, email=None, **lines):
    """One order through checkout and the Stripe webhook (the real completion path)."""
    product = shop.product(price=lines.get("price", "12.50"), stock=50)
    shop.fill(buyer, {product: lines.get("quantity", 1)})
    shop.pay_and_notify(client, shop.checkout(buyer), email=email)


# --- every order write keeps them right ----------------------------------------------------------


def test_orders_from_every_completion_path_are_counted_once(admin_client, customer, shop, client, app):
    buyer, email = customer
    assert assert_dashboard_agrees(app, admin_client)["orders_overall"] == 0

    # Webhook, delivered three times under two event ids: one order, counted once.
    mug = shop.product(price="12.50", stock=50)
    shop.fill(buyer, {mug: 2})
    session = shop.stripe.pay(shop.checkout(buyer), email=email)
    for event_id in ("evt_a", "evt_a", "evt_b"):
        response = shop.deliver(client, "checkout.session.completed", session, event_id=event_id)
        assert response.status_code == 200
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["orders_overall"] == 1 and shown["total_revenue"] == 25.0

    # The success page's poll completes a session whose webhook is late, then the webhook.
    shop.fill(buyer, {mug: 1}, address=False)
    late = shop.checkout(buyer)
    session = shop.stripe.pay(late, email=email)
    assert buyer.get(f"/order/stripe_session_status?session_id={late}").status_code == 200
    shop.deliver(client, "checkout.session.completed", session)
    assert assert_dashboard_agrees(app, admin_client)["orders_overall"] == 2

    # Paid while the customer changes the cart: the change completes the order instead.
    shop.fill(buyer, {mug: 1}, address=False)
    shop.stripe.pay(shop.checkout(buyer))
    line_id = buyer.get("/cart/").get_json()[0]["cart_product"]["id"]
    assert buyer.put(f"/cart/{line_id}", json={"quantity": 3}).get_json()["code"] == "checkout_already_paid"

    # Reconciliation finds a paid session whose webhook was lost.
    shop.fill(buyer, {mug: 1}, address=False)
    shop.stripe.pay(shop.checkout(buyer))
    with app.app_context():
        from app.orders import checkout

        assert checkout.reconcile()["orders_completed"] == 1

    # A payment of the wrong amount makes no order and counts nothing.
    shop.fill(buyer, {mug: 1}, address=False)
    shop.pay_and_notify(client, shop.checkout(buyer), amount_total=1)

    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["orders_overall"] == shown["ongoing_orders"] == 4
    assert shown["total_revenue"] == 62.5
    assert admin_client.get("/order/admin").get_json()["total_orders"] == 4


def test_status_changes_move_orders_between_counters(admin_client, customer, shop, client, app):
    buyer, email = customer
    buy(shop, client, buyer, email)
    buy(shop, client, buyer, email, price="7.25")
    first, second = sorted(o["order"]["id"] for o in buyer.get("/order/").get_json()["orders"])

    def put(order_id, **body):
        return admin_client.put(f"/order/admin/{order_id}", json=body)

    assert put(first, status="Shipped", tracking_url="https://t.example/1").status_code == 200
    assert assert_dashboard_agrees(app, admin_client)["ongoing_orders"] == 2
    # Shipped again with a corrected link: still one shipped order.
    assert put(first, status="Shipped", tracking_url="https://t.example/2").status_code == 200
    assert put(first, status="Delivered").status_code == 200
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["ongoing_orders"] == 1 and shown["orders_overall"] == 2
    # Refused changes change nothing.
    assert put(first, status="Shipped", tracking_url="https://t.example/3").status_code == 400
    assert put(second, status="Shipped").status_code == 400  # no tracking link
    assert assert_dashboard_agrees(app, admin_client) == shown

    listing = admin_client.get
    assert listing("/order/admin?status=Delivered").get_json()["total_orders"] == 1
    assert listing("/order/admin?status=Processing").get_json()["total_orders"] == 1
    assert listing("/order/admin?status=Shipped").get_json()["total_orders"] == 0
    assert listing("/order/admin?status=").get_json()["total_orders"] == 2


def test_uk_month_boundaries_decide_the_month(admin_client, db_session, app):
    year = this_year()
    seeds = {
        # 23:30 UTC on 31 March is 00:30 on 1 April in London (summer time): April.
        "april": datetime(year, 3, 31, 23, 30, tzinfo=UTC),
        # 23:30 UTC on 30 April is 00:30 on 1 May: May.
        "may": datetime(year, 4, 30, 23, 30, tzinfo=UTC),
        # 23:30 UTC on 31 October is still 31 October in London (winter time): October.
        "october": datetime(year, 10, 31, 23, 30, tzinfo=UTC),
        # Midnight UTC on 1 January is midnight in London: this year's January.
        "january": datetime(year, 1, 1, 0, 0, tzinfo=UTC),
        # 23:59 UTC on 31 December last year: last year's December, not in the graph.
        "last_december": datetime(year - 1, 12, 31, 23, 59, tzinfo=UTC),
    }
    orders = {name: add_order(db_session, at, total="3.10") for name, at in seeds.items()}
    db_session.commit()
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["graph_data"] == {
        **{str(m): 0 for m in range(1, 13)}, "1": 1, "4": 1, "5": 1, "10": 1,
    }
    assert shown["orders_overall"] == 5

    # A status change takes the order out of its own month's counter, not its UTC month's.
    april_id = orders["april"].id
    response = admin_client.put(
        f"/order/admin/{april_id}", json={"status": "Shipped", "tracking_url": "https://t.example/a"}
    )
    assert response.status_code == 200
    assert admin_client.put(f"/order/admin/{april_id}", json={"status": "Delivered"}).status_code == 200
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["ongoing_orders"] == 4 and shown["graph_data"]["4"] == 1
    with app.app_context():
        rows = counter_rows(db.session)
        db.session.remove()
    assert rows[(date(year, 4, 1), "Delivered")] == (1, 310)
    assert (date(year, 3, 1), "Delivered") not in rows and (date(year, 4, 1), "Processing") not in rows


def test_deleting_accounts_and_old_guests_keeps_their_orders_counted(admin_client, customer, accounts, shop, client, app, db_session):
    buyer, email = customer
    buy(shop, client, buyer, email, price="30.00")
    order_id = buyer.get("/order/").get_json()["orders"][0]["order"]["id"]
    guest = new_client(app)
    buy(shop, client, guest, "guest@example.com", price="4.40")
    before = assert_dashboard_agrees(app, admin_client)
    assert before["orders_overall"] == 2

    admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://t.example/d"})
    admin_client.put(f"/order/admin/{order_id}", json={"status": "Delivered"})
    assert buyer.delete("/user/delete-account").status_code == 200
    db_session.execute(
        update(User).where(User.role == "guest").values(created_at=utcnow() - timedelta(days=30))
    )
    db_session.commit()
    with app.app_context():
        assert delete_old_guests() == 1
    after = assert_dashboard_agrees(app, admin_client)
    assert after["orders_overall"] == 2 and after["total_revenue"] == 34.4
    assert after["ongoing_orders"] == 1 and after["total_users"] == before["total_users"] - 2


def test_a_rolled_back_order_write_counts_nothing(admin_client, db_session, app):
    now = utcnow()
    add_order(db_session, now, total="5.00").stripe_session_id = "cs_test_same"
    db_session.commit()
    # The same Stripe session completed twice (the race the unique id settles): the second
    # insert fails, and its counter change goes with it.
    add_order(db_session, now, total="5.00").stripe_session_id = "cs_test_same"
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()
    # Flushed, then abandoned; the next transaction of the same session counts only its own.
    add_order(db_session, now, total="9.00")
    db_session.flush()
    db_session.rollback()
    add_order(db_session, now, total="2.00")
    db_session.commit()
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["orders_overall"] == 2 and shown["total_revenue"] == 7.0


def test_concurrent_webhooks_count_every_order_once(admin_client, shop, app, fake_stripe):
    guests = [new_client(app) for _ in range(12)]
    mug = shop.product(price="2.50", stock=100)
    sessions = []
    for guest in guests:
        shop.fill(guest, {mug: 1})
        sessions.append(shop.stripe.pay(shop.checkout(guest), email="buyer@example.com"))
    deliveries = [(session, f"evt_{index}_{repeat}") for index, session in enumerate(sessions) for repeat in range(2)]
    statuses = []
    with LiveServer(app) as server:
        barrier = threading.Barrier(len(deliveries))

        def deliver(session, event_id):
            payload, headers = shop.stripe.webhook(
                shop.stripe.event("checkout.session.completed", session, event_id=event_id)
            )
            barrier.wait()
            response = requests.post(f"{server.url}/order/webhook", data=payload, headers=headers, timeout=60)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=deliver, args=delivery) for delivery in deliveries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * len(deliveries)
    assert count_rows(app, Order) == len(guests)
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["orders_overall"] == 12 and shown["total_revenue"] == 30.0


# --- reading them costs the same at any number of orders ---------------------------------------


def statements(app, client, path) -> int:
    with app.app_context():
        engine = db.engine
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen)


def test_dashboard_and_order_list_statements_do_not_grow_with_orders(admin_client, db_session, app):
    paths = ("/user/admin/dashboard", "/order/admin", "/order/admin?status=Shipped")
    for index in range(3):
        add_order(db_session, utcnow() - timedelta(days=index))
    db_session.commit()
    admin_client.get("/user/authenticate")  # the login's live check is kept from here on
    few = [statements(app, admin_client, path) for path in paths]
    start = utcnow()
    statuses = ("Processing", "Shipped", "Delivered")
    for index in range(300):
        add_order(db_session, start - timedelta(days=3 * index), status=statuses[index % 3])
    db_session.commit()
    many = [statements(app, admin_client, path) for path in paths]
    assert few == many
    assert many[0] <= 3 and many[1] <= 3  # (session check), counters (+ users), page
    assert_dashboard_agrees(app, admin_client)


# --- the migration's backfill and the recount ----------------------------------------------------


SEEDS = [
    (datetime(2025, 3, 30, 0, 59, tzinfo=UTC), "Delivered", "10.10"),  # just before BST starts
    (datetime(2025, 3, 31, 23, 30, tzinfo=UTC), "Shipped", "20.20"),  # 1 April in London
    (datetime(2025, 10, 31, 23, 30, tzinfo=UTC), "Delivered", "0.05"),  # still October
    (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), "Processing", "99999999.99"),
    (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "Processing", "1.00"),
    (datetime(2026, 6, 30, 23, 0, tzinfo=UTC), "Shipped", "3.33"),  # 1 July in London
    (datetime(2026, 6, 30, 22, 59, tzinfo=UTC), "Shipped", "3.33"),  # 30 June
]


def seed_orders_with_sql(connection):
    connection.execute(
        insert(Order.__table__),
        [
            {
                "stripe_session_id": f"cs_seed_{index}", "full_name": "S", "address_line_1": "1",
                "city": "C", "postcode": "P", "total_price": Decimal(total), "status": status,
                "created_at": created_at, "updated_at": created_at,
            }
            for index, (created_at, status, total) in enumerate(SEEDS)
        ],
    )



def _backfill_matches(make_app, url, old_figures):
    from app.auth import admin_services

    application = make_app(SQLALCHEMY_DATABASE_URI=url)
    with application.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as connection:
            seed_orders_with_sql(connection)
        upgrade()
        with db.engine.connect() as connection:
            assert counter_rows(connection) == buckets_from_orders(
                (at, status, total) for at, status, total in SEEDS
            )
            expected = old_figures(connection)
        for now in (datetime(2025, 7, 1, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)):
            year = now.astimezone(UK).year
            assert admin_services.dashboard(now=now) == {"total_users": 0, **expected(year)}
        # The counters go on from the backfill: a new order, then its status changes.
        before = admin_services.dashboard(now=datetime(2026, 7, 15, tzinfo=UTC))
        order = add_order(db.session, datetime(2026, 7, 10, 12, tzinfo=UTC), total="1.50")
        db.session.commit()
        order.status = "Shipped"
        db.session.commit()
        order.status = "Delivered"
        db.session.commit()
        after = admin_services.dashboard(now=datetime(2026, 7, 15, tzinfo=UTC))
        assert after["orders_overall"] == before["orders_overall"] + 1
        assert after["ongoing_orders"] == before["ongoing_orders"]
        assert after["total_revenue"] == before["total_revenue"] + Decimal("1.50")
        assert after["graph_data"]["7"] == before["graph_data"]["7"] + 1
        db.session.remove()
        db.engine.dispose()


def test_migration_backfill_matches_the_old_aggregates_on_postgresql(make_app, scratch_postgres):
    def old_figures(connection):
        overall, ongoing, revenue = connection.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('Processing', 'Shipped')), "
                "coalesce(sum(total_price), 0) FROM orders"
            )
        ).one()
        months = connection.execute(
            text(
                "SELECT extract(year FROM timezone('Europe/London', created_at))::int, "
                "extract(month FROM timezone('Europe/London', created_at))::int, count(*) "
                "FROM orders GROUP BY 1, 2"
            )
        ).all()

        def for_year(year):
            per_month = {str(m): 0 for m in range(1, 13)}
            per_month.update({str(month): n for y, month, n in months if y == year})
            return {"ongoing_orders": ongoing, "orders_overall": overall,
                    "total_revenue": Decimal(revenue), "graph_data": per_month}

        return for_year

    _backfill_matches(make_app, scratch_postgres, old_figures)


def test_migration_backfill_on_sqlite(make_app, tmp_path):
    def old_figures(_connection):
        def for_year(year):
            per_month = {str(m): 0 for m in range(1, 13)}
            for at, _, _ in SEEDS:
                local = at.astimezone(UK)
                if local.year == year:
                    per_month[str(local.month)] += 1
            return {
                "ongoing_orders": sum(status != "Delivered" for _, status, _ in SEEDS),
                "orders_overall": len(SEEDS),
                "total_revenue": sum(Decimal(total) for _, _, total in SEEDS),
                "graph_data": per_month,
            }

        return for_year

    _backfill_matches(make_app, f"sqlite:///{tmp_path / 'shop.sqlite3'}", old_figures)


def test_recount_repairs_orders_written_behind_the_counters_back(admin_client, app):
    with app.app_context():
        with db.engine.begin() as connection:
            seed_orders_with_sql(connection)  # plain SQL: the counters do not see these
        db.session.remove()
    assert admin_client.get("/user/admin/dashboard").get_json()["orders_overall"] == 0
    result = app.test_cli_runner().invoke(args=["recount-orders"])
    assert result.exit_code == 0, result.output
    shown = assert_dashboard_agrees(app, admin_client)
    assert shown["orders_overall"] == len(SEEDS)
    assert admin_client.get("/order/admin?status=Shipped").get_json()["total_orders"] == 3
    # Recounting again changes nothing.
    assert app.test_cli_runner().invoke(args=["recount-orders"]).exit_code == 0
    assert assert_dashboard_agrees(app, admin_client) == shown
    with app.app_context():
        assert db.session.scalar(select(Order.id).limit(1)) is not None
        db.session.remove()
