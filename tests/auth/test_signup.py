"""POST /user/signup (contract §2.1.1)."""

from sqlalchemy import select

from app.auth.models import User
from app.cart.models import Cart
from tests.conftest import PASSWORD


def test_signup_creates_unverified_customer_with_cart_and_sends_link(client, admin_client, mailgun, db_session):
    response = client.post(
        "/user/signup",
        json={"full_name": "Jane Doe", "email": "Jane@Example.com", "password": PASSWORD},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "jane@example.com"
    assert body["role"] == "customer"
    assert "password" not in str(body) and "password_hash" not in body
    user = db_session.scalars(select(User).where(User.email == "jane@example.com")).one()
    assert user.is_verified is False
    assert db_session.scalars(select(Cart).where(Cart.user_id == user.id)).one()
    [email] = mailgun.to("jane@example.com")
    assert "http://localhost:3000/login/" in email.text
    assert "http://localhost:3000/login/" in email.html
    assert email.fields["from"] == "Shop <no-reply@mg.shop.test>"


def test_first_account_becomes_admin_and_later_ones_customers(client):
    first = client.post("/user/signup", json={"full_name": "A", "email": "a@example.com", "password": PASSWORD})
    second = client.post("/user/signup", json={"full_name": "B", "email": "b@example.com", "password": PASSWORD})
    assert first.get_json()["role"] == "admin"
    assert second.get_json()["role"] == "customer"


def test_duplicate_email_is_refused_whatever_its_case(client):
    client.post("/user/signup", json={"full_name": "A", "email": "a@example.com", "password": PASSWORD})
    response = client.post("/user/signup", json={"full_name": "A2", "email": "A@EXAMPLE.com", "password": PASSWORD})
    assert response.status_code == 400
    assert response.get_json()["error"] == "User with the provided email already exists"
