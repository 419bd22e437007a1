"""Order lists run a constant number of SQL statements whatever the page size."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import event, select

from app.auth.models import User
from app.extensions import db
from app.orders.models import Order, OrderItem


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.count += 1


def seed_orders(db_session, user_id, how_many):
    for index in range(how_many):
        order = Order(
            user_id=user_id, stripe_session_id=f"cs_test_q{index}", customer_email="q@example.com", full_name="Q",
            address_line_1="1", city="C", postcode="P", total_price=Decimal("3.00"),
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for item in range(3):
            order.items.append(OrderItem(name=f"I{item}", price=Decimal("1.00"), quantity=1))
        db_session.add(order)
    db_session.commit()


def statements_for(app, client, path):
    with app.app_context():
        engine = db.engine
    with StatementCounter(engine) as counter:
        response = client.get(path)
    assert response.status_code == 200
    return counter.count


def test_customer_and_admin_order_lists_are_constant(app, customer, admin_client, db_session):
    buyer, email = customer
    user_id = db_session.scalars(select(User.id).where(User.email == email)).one()
    seed_orders(db_session, user_id, 60)
    for path in ("/order/?per_page={n}", "/order/admin?per_page={n}", f"/order/admin/user/{user_id}?per_page={{n}}"):
        caller = admin_client if "admin" in path else buyer
        # One request first, so that what is compared is the steady state of each list.
        statements_for(app, caller, path.format(n=10))
        small = statements_for(app, caller, path.format(n=1))
        large = statements_for(app, caller, path.format(n=50))
        assert small == large, path
        assert large <= 5, path
