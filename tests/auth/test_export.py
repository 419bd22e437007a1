"""GET /user/export: everything the shop holds about the caller, and nobody else's."""

from decimal import Decimal

from sqlalchemy import select

from app.addresses.models import Address
from app.auth.models import User
from app.orders.models import Order, OrderItem
from tests.support.guests import guest_client


def seed(db_session, email, suffix):
    user_id = db_session.scalars(select(User.id).where(User.email == email)).one()
    db_session.add(Address(user_id=user_id, full_name=f"Name {suffix}", address_line_1=f"{suffix} Road", city="C", postcode="P", is_default=True))
    order = Order(
        user_id=user_id, stripe_session_id=f"cs_test_{suffix}", customer_email=email, full_name=f"Name {suffix}",
        address_line_1=f"{suffix} Road", city="C", postcode="P", total_price=Decimal("12.34"),
    )
    order.items.append(OrderItem(name=f"Thing {suffix}", price=Decimal("12.34"), quantity=1))
    db_session.add(order)
    db_session.commit()


def test_export_holds_exactly_the_callers_data(customer, accounts, db_session):
    buyer, email = customer
    other, other_email = accounts.logged_in_client()
    seed(db_session, email, "mine")
    seed(db_session, other_email, "theirs")
    response = buyer.get("/user/export")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["profile"]["email"] == email and data["profile"]["full_name"] == "Casey Customer"
    assert [a["address_line_1"] for a in data["addresses"]] == ["mine Road"]
    assert [o["order_items"][0]["name"] for o in data["orders"]] == ["Thing mine"]
    assert "theirs" not in response.get_data(as_text=True)
    assert "password" not in response.get_data(as_text=True)
    assert "digest" not in response.get_data(as_text=True)


def test_export_needs_an_account(client, app):
    assert client.get("/user/export").status_code == 401
    assert guest_client(app).get("/user/export").status_code == 403


def test_export_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    assert "/user/export" in spec["paths"]
