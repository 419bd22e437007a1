"""The cart endpoints (contract §2.5, rules §3.1-§3.4): reading, adding (with guest creation),
changing and removing lines, with their error answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy import event, select, update

from app.auth.models import AuthSession, Role, User
from app.cart.models import Cart
from app.core.db import utcnow
from app.extensions import db
from tests.cart.support import count_rows, make_product, stock_of
from tests.conftest import new_client

TOKEN_ERROR = {"error": "Missing or invalid token", "code": "invalid_token"}


def add(client, product_id, quantity=1):
    return client.post(f"/cart/{product_id}", json={"quantity": quantity})


def cart_of(client):
    response = client.get("/cart/")
    assert response.status_code == 200, response.json
    return response.json


def guests(app) -> int:
    return count_rows(app, User, User.role == Role.GUEST)


def set_cookies_of(response) -> dict[str, str]:
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header
    return cookies


# --- GET /cart/ --------------------------------------------------------------------------------


def test_cart_lists_lines_newest_first_with_free_units_as_stock(app, customer):
    client, _ = customer
    mug = make_product(app, name="Mug", price="9.50", stock=5, image_path="shop-images/abc-mug.jpg")
    pan = make_product(app, name="Pan", price="20.00", stock=3, category="Cooking")
    assert add(client, mug, 2).status_code == 200
    assert add(client, pan, "1").status_code == 200
    # Somebody else holds one more mug: the free units drop for everybody.
    assert add(new_client(app), mug, 1).status_code == 200

    lines = cart_of(client)
    assert [line["product"]["name"] for line in lines] == ["Pan", "Mug"]
    pan_line, mug_line = lines
    assert mug_line["product"] == {
        "id": mug,
        "name": "Mug",
        "price": 9.5,
        "stock": 2,  # 5 in stock, 2 in this cart, 1 in the other
        "image_path": "shop-images/abc-mug.jpg",
        "category_name": "Kitchen",
    }
    assert mug_line["cart_product"]["quantity"] == 2
    assert mug_line["cart_product"]["product_id"] == mug
    assert isinstance(mug_line["cart_product"]["id"], int)
    assert pan_line["product"]["image_path"] is None
    assert pan_line["product"]["price"] == 20.0
    assert pan_line["product"]["stock"] == 2


def test_empty_cart_is_an_empty_list(customer):
    client, _ = customer
    assert cart_of(client) == []


def test_cart_needs_a_token(client):
    response = client.get("/cart/")
    assert response.status_code == 401
    assert response.json == TOKEN_ERROR


def test_reading_the_cart_costs_the_same_few_statements_whatever_its_size(app, customer):
    client, _ = customer
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    products = [make_product(app, name=f"Item {n}", stock=5) for n in range(25)]
    add(client, products[0])
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert len(cart_of(client)) == 1
        small = len(statements)
        for product_id in products[1:]:
            assert add(client, product_id).status_code == 200
        statements.clear()
        assert len(cart_of(client)) == 25
        large = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert small == large
    assert large <= 4


# --- POST /cart/<product_id>: guests -----------------------------------------------------------


def test_first_add_without_a_session_creates_a_guest_and_sets_its_cookies(app, client):
    product = make_product(app, stock=4)
    response = add(client, product, "2")
    assert response.status_code == 200
    assert response.json["quantity"] == 2
    assert response.json["product_id"] == product

    cookies = set_cookies_of(response)
    assert set(cookies) == {"access_token", "refresh_token"}
    for header in cookies.values():
        attributes = [part.strip() for part in header.split(";")]
        assert "HttpOnly" in attributes
        assert "Secure" in attributes
        assert "Path=/" in attributes
        assert "SameSite=Lax" in attributes
        assert not any(part.lower().startswith("domain=") for part in attributes)
        # A guest's cookies live as long as its 7-day refresh token, both of them.
        max_age = next(
            int(part.split("=")[1]) for part in attributes if part.startswith("Max-Age=")
        )
        assert 7 * 86400 - 60 <= max_age <= 7 * 86400

    with app.app_context():
        guest = db.session.scalars(select(User).where(User.role == Role.GUEST)).one()
        assert guest.full_name == "Guest User"
        assert guest.email is None and guest.password_hash is None
        cart = db.session.scalars(select(Cart).where(Cart.user_id == guest.id)).one()
        assert response.json["cart_id"] == cart.id
        assert cart.last_added_at is not None
        db.session.remove()

    # The cookies make the shopper a signed-in guest.
    me = client.get("/user/authenticate")
    assert me.json == {"logged_in": True, "is_admin": False, "is_customer": False}
    [line] = cart_of(client)
    assert line["cart_product"]["quantity"] == 2
    assert stock_of(app, product) == (4, 2)


def test_a_guest_adding_again_uses_the_same_guest_and_cart(app, client):
    first = make_product(app, name="A")
    second = make_product(app, name="B")
    add(client, first)
    response = add(client, second)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert guests(app) == 1
    assert len(cart_of(client)) == 2


def test_unknown_product_is_refused_before_any_guest_exists(app, client):
    response = add(client, 999)
    assert response.status_code == 400
    assert response.json == {"error": "Product not found", "code": "product_not_found"}
    assert "Set-Cookie" not in response.headers
    assert guests(app) == 0
    # An id beyond the database's integer range is simply not found either.
    assert add(client, 2**40).json["error"] == "Product not found"


def test_out_of_stock_is_refused_before_any_guest_exists(app, client):
    product = make_product(app, stock=2)
    response = add(client, product, 3)
    assert response.status_code == 400
    assert response.json == {"error": "Product is out of stock", "code": "out_of_stock"}
    assert "Set-Cookie" not in response.headers
    assert guests(app) == 0
    assert stock_of(app, product) == (2, 0)


def test_units_held_by_other_carts_are_not_free(app, client, customer):
    product = make_product(app, stock=3)
    customer_client, _ = customer
    assert add(customer_client, product, 2).status_code == 200
    assert add(client, product, 2).json["error"] == "Product is out of stock"
    assert add(client, product, 1).status_code == 200
    assert stock_of(app, product) == (3, 3)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"quantity": 0}, "Quantity must be a whole number from 1 to 10"),
        ({"quantity": -1}, "Quantity must be a whole number from 1 to 10"),
        ({"quantity": 11}, "Quantity must be a whole number from 1 to 10"),
        ({"quantity": "abc"}, "Quantity must be a whole number"),
        ({"quantity": 1.5}, "Quantity must be a whole number"),
        ({"quantity": True}, "Quantity must be a whole number"),
        ({"quantity": None}, "Quantity is required"),
        ({"amount": 1}, "Quantity is required"),
        ({"quantity": 1, "cart_id": 3}, "cart_id: Unknown field."),
    ],
)
def test_bad_quantities_are_refused(app, client, body, message):
    product = make_product(app)
    response = client.post(f"/cart/{product}", json=body)
    assert response.status_code == 400
    assert response.json["error"] == message
    assert guests(app) == 0


def test_missing_quantity_and_empty_body(app, client):
    product = make_product(app)
    response = client.post(f"/cart/{product}", json={})
    assert response.status_code == 400
    assert response.json["error"] == "No data provided"
    response = client.post(f"/cart/{product}")
    assert response.status_code == 400
    assert response.json["error"] == "No data provided"
    assert guests(app) == 0


def test_per_line_maximum_is_configurable(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CART_MAX_QUANTITY_PER_LINE", 3)
    product = make_product(app, stock=10)
    assert add(client, product, 4).json["error"] == "Quantity must be a whole number from 1 to 3"
    assert add(client, product, 3).status_code == 200


# --- POST /cart/<product_id>: who is calling ---------------------------------------------------


def test_a_garbage_access_token_gets_401_and_no_guest(app, client):
    product = make_product(app)
    client.set_cookie("access_token", "not-a-token")
    response = add(client, product)
    assert response.status_code == 401
    assert response.json == TOKEN_ERROR
    assert guests(app) == 0
    assert stock_of(app, product) == (10, 0)


def test_an_expired_access_token_gets_401_and_the_guest_keeps_its_cart(app, client):
    product = make_product(app)
    add(client, product)
    token = client.get_cookie("access_token").value
    with app.app_context():
        claims = decode_token(token)
        expired = create_access_token(
            identity=claims["sub"],
            additional_claims={"sid": claims["sid"]},
            expires_delta=timedelta(seconds=-60),
        )
    client.set_cookie("access_token", expired)
    response = add(client, product, 2)
    assert response.status_code == 401
    assert response.json == TOKEN_ERROR
    assert guests(app) == 1
    assert stock_of(app, product) == (10, 1)


def test_only_a_refresh_cookie_gets_401_instead_of_a_new_guest(app, client):
    product = make_product(app)
    add(client, product)
    client.delete_cookie("access_token")
    response = add(client, product, 2)
    assert response.status_code == 401
    assert response.json == TOKEN_ERROR
    assert guests(app) == 1
    # The storefront then refreshes and retries, which works.
    assert client.post("/user/refresh").status_code == 200
    assert add(client, product, 2).status_code == 200
    assert guests(app) == 1
    assert stock_of(app, product) == (10, 2)


def test_a_token_of_a_deleted_guest_gets_401(app, client):
    product = make_product(app)
    add(client, product)
    with app.app_context():
        guest = db.session.scalars(select(User).where(User.role == Role.GUEST)).one()
        db.session.execute(
            update(AuthSession).where(AuthSession.user_id == guest.id).values(revoked_at=utcnow())
        )
        db.session.commit()
        db.session.remove()
    assert add(client, product).status_code == 401


def test_a_signed_in_customer_adds_to_their_own_cart(app, customer):
    client, email = customer
    product = make_product(app)
    response = add(client, product, 3)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert guests(app) == 0
    with app.app_context():
        owner = db.session.scalars(
            select(User.id)
            .join(Cart, Cart.user_id == User.id)
            .where(Cart.id == response.json["cart_id"])
        ).one()
        assert owner == db.session.scalars(select(User.id).where(User.email == email)).one()
        db.session.remove()


# --- POST /cart/<product_id>: replacing a quantity ----------------------------------------------


def test_adding_a_product_already_in_the_cart_replaces_its_quantity(app, customer):
    client, _ = customer
    product = make_product(app, stock=5)
    first = add(client, product, 2)
    second = add(client, product, 4)
    assert second.status_code == 200
    assert second.json["id"] == first.json["id"]
    assert second.json["quantity"] == 4
    assert [line["cart_product"]["quantity"] for line in cart_of(client)] == [4]
    assert stock_of(app, product) == (5, 4)
    # Lowering gives units back.
    assert add(client, product, 1).status_code == 200
    assert stock_of(app, product) == (5, 1)


def test_replacing_checks_only_the_difference(app, customer):
    """Holding 3 of 4, asking for 4 needs one more unit, which is free (the original counted
    the 3 twice and refused)."""
    client, _ = customer
    product = make_product(app, stock=4)
    add(client, product, 3)
    response = add(client, product, 4)
    assert response.status_code == 200
    assert stock_of(app, product) == (4, 4)
    assert add(client, product, 5).json["error"] == "Product is out of stock"
    assert stock_of(app, product) == (4, 4)


def test_the_number_of_distinct_products_per_cart_is_capped(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CART_MAX_LINES", 2)
    first, second, third = (make_product(app, name=name) for name in ("A", "B", "C"))
    assert add(client, first).status_code == 200
    assert add(client, second).status_code == 200
    response = add(client, third)
    assert response.status_code == 400
    assert response.json == {
        "error": "Your cart can hold at most 2 different products",
        "code": "cart_full",
    }
    # Changing a product already in the cart is still fine.
    assert add(client, second, 3).status_code == 200
    assert stock_of(app, third) == (10, 0)


def test_adding_stamps_the_cart_as_recently_used(app, customer):
    client, email = customer
    product = make_product(app)
    long_ago = utcnow() - timedelta(days=2)
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.email == email)).one()
        db.session.execute(
            update(Cart).where(Cart.user_id == user_id).values(last_added_at=long_ago)
        )
        db.session.commit()
        db.session.remove()
    add(client, product)
    with app.app_context():
        stamped = db.session.scalars(
            select(Cart.last_added_at).where(Cart.user_id == user_id)
        ).one()
        db.session.remove()
    assert stamped > utcnow() - timedelta(minutes=1)


# --- PUT /cart/<cart_product_id> ---------------------------------------------------------------


def line_id(client) -> int:
    return cart_of(client)[0]["cart_product"]["id"]


def test_changing_a_quantity_moves_the_reservation_by_the_difference(app, customer):
    client, _ = customer
    product = make_product(app, stock=6)
    add(client, product, 2)
    cart_product_id = line_id(client)
    response = client.put(f"/cart/{cart_product_id}", json={"quantity": 5})
    assert response.status_code == 200
    assert response.json == {"message": "Product quantity updated successfully"}
    assert stock_of(app, product) == (6, 5)
    assert client.put(f"/cart/{cart_product_id}", json={"quantity": "1"}).status_code == 200
    assert stock_of(app, product) == (6, 1)
    assert cart_of(client)[0]["cart_product"]["quantity"] == 1


def test_raising_beyond_the_free_units_is_refused(app, customer, client):
    customer_client, _ = customer
    product = make_product(app, stock=5)
    add(client, product, 2)  # a guest holds 2
    add(customer_client, product, 1)
    cart_product_id = line_id(customer_client)
    response = customer_client.put(f"/cart/{cart_product_id}", json={"quantity": 4})
    assert response.status_code == 400
    assert response.json == {"error": "Product is out of stock.", "code": "out_of_stock"}
    assert stock_of(app, product) == (5, 3)
    assert customer_client.put(f"/cart/{cart_product_id}", json={"quantity": 3}).status_code == 200
    assert stock_of(app, product) == (5, 5)


def test_changing_an_unknown_line(app, customer):
    client, _ = customer
    for line in (12345, 2**40):
        response = client.put(f"/cart/{line}", json={"quantity": 1})
        assert response.status_code == 400
        assert response.json == {
            "error": "Cart product not found",
            "code": "cart_product_not_found",
        }


@pytest.mark.parametrize("quantity", [0, -2, 11, "x", None])
def test_changing_to_a_bad_quantity_is_refused(app, customer, quantity):
    client, _ = customer
    product = make_product(app)
    add(client, product, 2)
    response = client.put(f"/cart/{line_id(client)}", json={"quantity": quantity})
    assert response.status_code == 400
    assert stock_of(app, product) == (10, 2)


def test_changing_needs_a_token(app, client):
    response = client.put("/cart/1", json={"quantity": 1})
    assert response.status_code == 401
    assert response.json == TOKEN_ERROR


def test_a_body_cannot_name_another_line_or_cart(app, customer):
    client, _ = customer
    product = make_product(app)
    add(client, product)
    response = client.put(f"/cart/{line_id(client)}", json={"quantity": 2, "cart_product_id": 7})
    assert response.status_code == 400
    assert response.json["error"] == "cart_product_id: Unknown field."


# --- DELETE /cart/<cart_product_id> ------------------------------------------------------------


def test_removing_a_line_releases_its_units(app, customer):
    client, _ = customer
    product = make_product(app, stock=5)
    add(client, product, 3)
    response = client.delete(f"/cart/{line_id(client)}")
    assert response.status_code == 200
    assert response.json == {"message": "Product deleted from cart successfully"}
    assert cart_of(client) == []
    assert stock_of(app, product) == (5, 0)


def test_removing_an_unknown_line(customer):
    client, _ = customer
    response = client.delete("/cart/4242")
    assert response.status_code == 400
    assert response.json == {"error": "Cart product not found", "code": "cart_product_not_found"}


def test_removing_twice_releases_once(app, customer):
    client, _ = customer
    product = make_product(app, stock=5)
    add(client, product, 3)
    cart_product_id = line_id(client)
    assert client.delete(f"/cart/{cart_product_id}").status_code == 200
    assert client.delete(f"/cart/{cart_product_id}").json["error"] == "Cart product not found"
    assert stock_of(app, product) == (5, 0)


def test_removing_needs_a_token(client):
    assert client.delete("/cart/1").status_code == 401


# --- a cart locked by a checkout -------------------------------------------------------------


def lock_cart(app, user_id):
    with app.app_context():
        db.session.execute(update(Cart).where(Cart.user_id == user_id).values(locked_at=utcnow()))
        db.session.commit()
        db.session.remove()


def is_locked(app, user_id) -> bool:
    with app.app_context():
        locked_at = db.session.scalars(select(Cart.locked_at).where(Cart.user_id == user_id)).one()
        db.session.remove()
    return locked_at is not None


def test_every_change_of_a_locked_cart_passes_the_checkout_gate(app, customer):
    """Each write path consults the checkout gate (ensure_cart_editable) under the cart lock.
    A lock left without any open checkout session is simply lifted, and the change applies."""
    client, email = customer
    product = make_product(app, stock=5)
    other = make_product(app, name="Other")
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.email == email)).one()
        db.session.remove()
    add(client, product, 2)
    cart_product_id = line_id(client)

    changes = [
        lambda: add(client, other),
        lambda: add(client, product, 3),
        lambda: client.put(f"/cart/{cart_product_id}", json={"quantity": 1}),
        lambda: client.delete(f"/cart/{cart_product_id}"),
    ]
    for change in changes:
        lock_cart(app, user_id)
        response = change()
        assert response.status_code == 200, response.json
        assert not is_locked(app, user_id)
    assert [line["product"]["id"] for line in cart_of(client)] == [other]
    assert stock_of(app, product) == (5, 0)
    assert stock_of(app, other) == (10, 1)


def test_reading_a_locked_cart_leaves_it_locked(app, customer):
    client, email = customer
    product = make_product(app, stock=5)
    add(client, product, 2)
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.email == email)).one()
        db.session.remove()
    lock_cart(app, user_id)
    assert [line["cart_product"]["quantity"] for line in cart_of(client)] == [2]
    assert is_locked(app, user_id)
