"""The embedded default (SQLite): adding to the cart takes its statement-by-statement path
there (PostgreSQL's single statements do not exist on SQLite), with the same answers and the
same books."""

from decimal import Decimal

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from app.auth.models import AuthSession, Role, User
from app.cart.models import CartProduct
from app.catalog.models import Category, Product
from app.extensions import db
from tests.conftest import new_client


@pytest.fixture
def sqlite_app(make_app, tmp_path):
    application = make_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        CACHE_KEY_PREFIX="shop:sqlite-cart-test:",
        CART_MAX_LINES=2,
    )
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


def products(application, **stocks) -> dict[str, int]:
    with application.app_context():
        category = Category(name="Kitchen")
        db.session.add(category)
        db.session.flush()
        made = {
            name: Product(name=name, price=Decimal("5.00"), stock=stock, category_id=category.id)
            for name, stock in stocks.items()
        }
        db.session.add_all(made.values())
        db.session.commit()
        ids = {name: product.id for name, product in made.items()}
        db.session.remove()
    return ids


def books(application) -> dict[int, tuple[int, int, int]]:
    """{product id: (stock, reserved_stock, units in cart lines)}"""
    with application.app_context():
        in_lines = dict(
            db.session.execute(
                select(CartProduct.product_id, func.sum(CartProduct.quantity)).group_by(
                    CartProduct.product_id
                )
            ).all()
        )
        rows = db.session.execute(select(Product.id, Product.stock, Product.reserved_stock)).all()
        db.session.remove()
    return {row.id: (row.stock, row.reserved_stock, in_lines.get(row.id, 0)) for row in rows}


def test_adding_to_the_cart_on_sqlite(sqlite_app):
    ids = products(sqlite_app, Mug=3, Bowl=5, Plate=5)
    mug, bowl, plate = ids["Mug"], ids["Bowl"], ids["Plate"]
    first = new_client(sqlite_app)

    def add(client, product_id, quantity):
        return client.post(f"/cart/{product_id}", json={"quantity": quantity})

    created = add(first, mug, 2)
    assert created.status_code == 200
    assert {header.split("=")[0] for header in created.headers.getlist("Set-Cookie")} == {
        "access_token",
        "refresh_token",
    }
    assert add(first, mug, 3).json["id"] == created.json["id"]  # the quantity is replaced
    assert add(first, mug, 4).json == {"error": "Product is out of stock", "code": "out_of_stock"}
    assert add(first, mug, 1).json["quantity"] == 1
    assert add(first, bowl, 2).status_code == 200
    assert add(first, plate, 1).json["code"] == "cart_full"
    assert [line["cart_product"]["quantity"] for line in first.get("/cart/").json] == [2, 1]

    second = new_client(sqlite_app)
    assert add(second, 99999, 1).json == {"error": "Product not found", "code": "product_not_found"}
    assert add(second, mug, 3).json["code"] == "out_of_stock"
    assert add(second, mug, 2).status_code == 200

    assert books(sqlite_app) == {mug: (3, 3, 3), bowl: (5, 2, 2), plate: (5, 0, 0)}
    with sqlite_app.app_context():
        guests = db.session.scalars(select(User.id).where(User.role == Role.GUEST)).all()
        assert len(guests) == 2
        assert sorted(db.session.scalars(select(AuthSession.user_id)).all()) == sorted(guests)
        db.session.remove()
