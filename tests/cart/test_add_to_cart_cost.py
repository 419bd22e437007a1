"""What one add-to-cart costs the database (docs/decisions/0010-cart-commits-without-flush.md):
a new guest is one statement, a signed-in shopper's cart three at most, and the commit of a
transaction that only touched carts does not wait for the disk, while one that went through
the checkout gate does."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, select, update

from app.auth.models import AuthSession, Role, User
from app.cart.models import Cart
from app.core.db import utcnow
from app.extensions import db
from tests.cart.support import count_rows, make_product, stock_of
from tests.conftest import new_client


@contextmanager
def recording(app):
    """The SQL statements the application sends meanwhile, and the value of
    synchronous_commit at each commit it sends."""
    with app.app_context():
        engine = db.engine
    seen = {"statements": [], "commits": []}

    def statement(conn, cursor, text, *args):
        seen["statements"].append(" ".join(text.split()))

    def commit(conn):
        setting = conn.connection.dbapi_connection.execute("SHOW synchronous_commit").fetchone()
        seen["commits"].append(setting[0])

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def cart_statements(seen) -> list[str]:
    """The statements of the add itself (not the check of the caller's access cookie)."""
    return [text for text in seen["statements"] if "auth_sessions JOIN users" not in text]


def add(client, product_id, quantity=1):
    return client.post(f"/cart/{product_id}", json={"quantity": quantity})


def test_a_new_guest_is_one_statement(app, client):
    product = make_product(app, stock=5)
    with recording(app) as seen:
        response = add(client, product, 2)
    assert response.status_code == 200
    assert len(seen["statements"]) == 1
    assert stock_of(app, product) == (5, 2)
    with app.app_context():
        guest = db.session.scalars(select(User).where(User.role == Role.GUEST)).one()
        assert db.session.scalar(select(AuthSession.user_id)) == guest.id
        cart_id = db.session.scalar(select(Cart.id).where(Cart.user_id == guest.id))
        assert cart_id == response.json["cart_id"]
        db.session.remove()
    assert client.get("/cart/").json[0]["cart_product"]["id"] == response.json["id"]


def test_a_refused_new_guest_costs_two_statements_at_most_and_leaves_nobody(app, client):
    product = make_product(app, stock=1)
    for product_id, error in ((product, "out_of_stock"), (2_000_000_000, "product_not_found")):
        with recording(app) as seen:
            response = add(client, product_id, 2)
        assert response.json["code"] == error
        assert len(seen["statements"]) <= 2
    assert count_rows(app, User) == 0
    assert count_rows(app, Cart) == 0
    assert stock_of(app, product) == (1, 0)


def test_a_signed_in_shopper_adds_in_three_statements_at_most(app, customer):
    client, _ = customer
    mug, pan = make_product(app, name="Mug", stock=5), make_product(app, name="Pan", stock=5)
    assert add(client, mug, 1).status_code == 200

    # A new line, more, fewer, the same: lock the cart, lock its lines, write the line and
    # its reservation together.
    for quantity, statements in ((2, 3), (4, 3), (1, 3), (1, 2)):
        with recording(app) as seen:
            response = add(client, pan, quantity)
        assert response.status_code == 200, response.json
        assert response.json["quantity"] == quantity
        assert len(cart_statements(seen)) == statements, seen["statements"]
    assert stock_of(app, pan) == (5, 1)

    with recording(app) as seen:
        response = add(client, pan, 6)  # 5 more, while 4 are free
    assert response.json == {"error": "Product is out of stock", "code": "out_of_stock"}
    assert len(cart_statements(seen)) == 3
    assert stock_of(app, pan) == (5, 1)
    assert stock_of(app, mug) == (5, 1)


def test_cart_commits_do_not_wait_for_the_disk_unless_a_checkout_was_involved(app, customer):
    client, email = customer
    product = make_product(app, stock=5)
    with recording(app) as seen:
        assert add(client, product, 1).status_code == 200
        assert add(client, product, 2).status_code == 200
    assert seen["commits"] == ["off", "off"]

    # A cart locked by a checkout goes through the checkout gate, which may complete an order:
    # that transaction commits as every other one does.
    with app.app_context():
        db.session.execute(
            update(Cart)
            .where(Cart.user_id == select(User.id).where(User.email == email).scalar_subquery())
            .values(locked_at=utcnow())
        )
        db.session.commit()
        db.session.remove()
    with recording(app) as seen:
        assert add(client, product, 3).status_code == 200
    assert seen["commits"] == ["on"]
    assert stock_of(app, product) == (5, 3)


def test_a_new_guest_after_the_connection_sat_idle(app, monkeypatch):
    """A pooled connection that sat unused is tested before it is handed out (app.core.db);
    the test leaves no transaction open, so the new guest's statement still runs alone."""
    monkeypatch.setattr("app.core.db.PING_AFTER_IDLE_SECONDS", 0.0)
    product = make_product(app, stock=5)
    for _ in range(3):
        assert add(new_client(app), product).status_code == 200
    assert stock_of(app, product) == (5, 3)
