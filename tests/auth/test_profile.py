"""Name, password and account deletion (contract §2.1.10–§2.1.13)."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.addresses.models import Address
from app.auth.models import User
from app.cart.models import Cart, CartProduct
from app.catalog.models import Category, Product
from app.orders.models import Order, OrderItem, OrderStatus
from tests.conftest import PASSWORD, new_client
from tests.support.guests import guest_client


def test_get_and_edit_name(customer):
    client, _ = customer
    assert client.get("/user/").get_json() == {"full_name": "Casey Customer"}
    response = client.put("/user/edit-name", json={"full_name": "  Casey Renamed  "})
    assert response.get_json() == {"message": "Name edited successfully"}
    assert client.get("/user/").get_json() == {"full_name": "Casey Renamed"}


@pytest.mark.parametrize(
    "body",
    [{}, {"full_name": ""}, {"full_name": "   "}, {"full_name": None}, {"full_name": 5}, {"full_name": "x" * 101}, {"name": "x"}],
)
def test_edit_name_rejects_bad_input_and_keeps_the_name(customer, body):
    client, _ = customer
    response = client.put("/user/edit-name", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert client.get("/user/").get_json() == {"full_name": "Casey Customer"}


def test_edit_password_signs_out_other_sessions_only(customer, accounts, app):
    client, email = customer
    other = new_client(app)
    accounts.login(other, email)
    wrong = client.put("/user/edit-password", json={"current_password": "wrong-password", "new_password": "new password 1"})
    assert wrong.status_code == 400
    assert wrong.get_json()["error"] == "Current password invalid"
    short = client.put("/user/edit-password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.get_json()["error"] == "Password must be at least 8 characters long"
    ok = client.put("/user/edit-password", json={"current_password": PASSWORD, "new_password": "new password 1"})
    assert ok.get_json() == {"message": "Password edited successfully"}
    assert client.get("/user/authenticate").status_code == 200
    assert other.get("/user/authenticate").status_code == 401
    assert other.post("/user/refresh").status_code == 401
    accounts.login(new_client(app), email, password="new password 1")


def test_guests_cannot_use_account_endpoints(app):
    guest = guest_client(app)
    assert guest.get("/user/authenticate").get_json() == {"logged_in": True, "is_admin": False, "is_customer": False}
    for method, path, body in (
        ("get", "/user/", None),
        ("put", "/user/edit-name", {"full_name": "x"}),
        ("put", "/user/edit-password", {"current_password": "x", "new_password": "yyyyyyyy"}),
        ("delete", "/user/delete-account", None),
    ):
        response = getattr(guest, method)(path, json=body) if body else getattr(guest, method)(path)
        assert response.status_code == 403
        assert response.get_json()["error"] == "Unauthorized access"


def test_anonymous_gets_401_on_account_endpoints(client):
    for method, path in (("get", "/user/"), ("put", "/user/edit-name"), ("put", "/user/edit-password"), ("delete", "/user/delete-account")):
        response = getattr(client, method)(path, json={"full_name": "x"}) if method == "put" else getattr(client, method)(path)
        assert response.status_code == 401


def _shop_with_order(db_session, user_id, status):
    category = Category(name="Mugs")
    product = Product(name="Mug", description="", price=Decimal("9.50"), stock=5, reserved_stock=2, category=category)
    db_session.add_all([category, product])
    db_session.flush()
    cart = db_session.scalars(select(Cart).where(Cart.user_id == user_id)).one()
    db_session.add(CartProduct(cart_id=cart.id, product_id=product.id, quantity=2))
    db_session.add(Address(user_id=user_id, full_name="C", address_line_1="1 St", city="X", postcode="Y", is_default=True))
    order = Order(
        user_id=user_id, stripe_session_id="cs_test_1", customer_email="c@example.com", full_name="C",
        address_line_1="1 St", city="X", postcode="Y", total_price=Decimal("19.00"), status=status,
    )
    order.items.append(OrderItem(product_id=product.id, name="Mug", price=Decimal("9.50"), quantity=2))
    db_session.add(order)
    db_session.commit()
    return product.id, order.id


def _user_id(db_session, email):
    return db_session.scalars(select(User.id).where(User.email == email)).one()


def test_delete_account_refused_with_pending_orders(customer, db_session):
    client, email = customer
    _shop_with_order(db_session, _user_id(db_session, email), OrderStatus.SHIPPED)
    response = client.delete("/user/delete-account")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Cannot delete account with pending orders"
    assert client.get("/user/").status_code == 200


def test_delete_account_releases_reservations_and_keeps_orders(customer, db_session):
    client, email = customer
    user_id = _user_id(db_session, email)
    product_id, order_id = _shop_with_order(db_session, user_id, OrderStatus.DELIVERED)
    response = client.delete("/user/delete-account")
    assert response.get_json() == {"message": "Account deleted successfully"}
    db_session.expire_all()
    assert db_session.get(User, user_id) is None
    assert db_session.get(Product, product_id).reserved_stock == 0
    order = db_session.get(Order, order_id)
    assert order.user_id is None and order.total_price == Decimal("19.00")
    assert db_session.scalar(select(func.count()).select_from(Address).where(Address.user_id == user_id)) == 0
    assert client.get("/user/authenticate").status_code == 401
