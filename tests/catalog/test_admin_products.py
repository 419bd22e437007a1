"""Admin products (contract §2.8.2): list, create, edit, delete; only editable fields are
ever applied, stock never drops below what carts hold, order history survives deletion."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.catalog.models import FeaturedProduct, Product, ProductImage
from app.extensions import db
from app.orders.models import Order, OrderItem
from tests.catalog.support import count_rows, set_reserved
from tests.conftest import new_client


def product_row(app, product_id):
    with app.app_context():
        row = db.session.execute(
            select(
                Product.name,
                Product.description,
                Product.price,
                Product.stock,
                Product.reserved_stock,
                Product.category_id,
            ).where(Product.id == product_id)
        ).one_or_none()
        db.session.remove()
    return row


VALID = {
    "name": "Lamp",
    "description": "A warm light.\nE27 bulb.",
    "price": "24.99",
    "stock": "7",
    "category_id": None,  # filled in by the tests
}


@pytest.fixture
def kitchen(shop):
    return shop.category("Kitchen")


# --- list ----------------------------------------------------------------------------------------


def test_admin_list_includes_out_of_stock_newest_first(admin_client, shop, kitchen, app):
    a = shop.product("A", category_id=kitchen, stock=0)
    b = shop.product("B", category_id=kitchen, price="2.50", stock=3)
    set_reserved(app, b, 2)
    response = admin_client.get("/product/admin?page=1")
    assert response.status_code == 200
    assert response.json == {
        "products": [
            {"id": b, "name": "B", "price": 2.5, "stock": 3, "reserved_stock": 2},
            {"id": a, "name": "A", "price": 9.5, "stock": 0, "reserved_stock": 0},
        ],
        "total_pages": 1,
        "current_page": 1,
        "total_products": 2,
    }


def test_admin_list_pages_of_ten_and_category_filter(admin_client, shop, kitchen):
    garden = shop.category("Garden")
    ids = [shop.product(f"K{n}", category_id=kitchen) for n in range(11)]
    shop.product("G", category_id=garden)
    first = admin_client.get("/product/admin?page=1").json
    assert (
        len(first["products"]) == 10 and first["total_pages"] == 2 and first["total_products"] == 12
    )
    filtered = admin_client.get(f"/product/admin?page=2&category_id={kitchen}").json
    assert [p["id"] for p in filtered["products"]] == [ids[0]]
    assert filtered["total_products"] == 11
    past = admin_client.get("/product/admin?page=5")
    assert past.status_code == 200 and past.json["products"] == []
    assert admin_client.get("/product/admin?page=-2").status_code == 400


# --- create --------------------------------------------------------------------------------------


def test_create_with_strings_as_the_storefront_sends_them(admin_client, client, kitchen, app):
    response = admin_client.post("/product/admin", json={**VALID, "category_id": str(kitchen)})
    assert response.status_code == 201
    assert response.json["message"] == "Product created successfully"
    product_id = response.json["product_id"]
    assert isinstance(product_id, int)
    detail = client.get(f"/product/{product_id}").json
    assert detail == {
        "id": product_id,
        "name": "Lamp",
        "description": "A warm light.\nE27 bulb.",
        "price": 24.99,
        "stock": 7,
        "reserved_stock": 0,
        "category_id": kitchen,
    }


def test_create_with_numbers(admin_client, kitchen, app):
    response = admin_client.post(
        "/product/admin", json={**VALID, "price": 3, "stock": 0, "category_id": kitchen}
    )
    assert response.status_code == 201
    row = product_row(app, response.json["product_id"])
    assert row.price == Decimal("3.00") and row.stock == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": "-1"}, "Price cannot be a negative number"),
        ({"price": "0"}, "Price must be greater than 0"),
        ({"price": "1.999"}, "Price must have at most two decimal places"),
        ({"price": "abc"}, "Price must be a number"),
        ({"price": None}, "Price must be a number"),
        ({"price": "1e9"}, "Price must be less than 100000000"),
        ({"stock": "-3"}, "Stock cannot be a negative number"),
        ({"stock": "2.5"}, "Stock must be a whole number"),
        ({"stock": 2.5}, "Stock must be a whole number"),
        ({"stock": "many"}, "Stock must be a whole number"),
        ({"stock": 99999999999}, "Stock must be at most 2147483647"),
        ({"name": ""}, "Product name must be 1 to 100 characters long"),
        ({"name": "n" * 101}, "Product name must be 1 to 100 characters long"),
        ({"description": "d" * 1001}, "Description must be at most 1000 characters long"),
        ({"category_id": "999"}, "Category not found"),
        ({"category_id": 99999999999}, "Category not found"),
        ({"category_id": "kitchen"}, "Category must be a whole number"),
        ({"id": 50}, None),
        ({"reserved_stock": 3}, None),
    ],
)
def test_create_refuses_invalid_fields(admin_client, kitchen, app, changes, message):
    response = admin_client.post(
        "/product/admin", json={**VALID, "category_id": kitchen, **changes}
    )
    assert response.status_code == 400, response.json
    if message:
        assert response.json["error"] == message
    assert count_rows(app, Product) == 0


@pytest.mark.parametrize("missing", ["name", "description", "price", "stock", "category_id"])
def test_create_needs_every_field(admin_client, kitchen, app, missing):
    body = {**VALID, "category_id": kitchen}
    del body[missing]
    assert admin_client.post("/product/admin", json=body).status_code == 400
    assert count_rows(app, Product) == 0


def test_create_needs_a_json_body(admin_client):
    assert admin_client.post("/product/admin").json["error"] == "No data provided"
    response = admin_client.post("/product/admin", data="name=x", content_type="text/plain")
    assert response.status_code == 400


# --- edit ----------------------------------------------------------------------------------------


def test_edit_applies_only_the_given_fields(admin_client, client, shop, kitchen, app):
    garden = shop.category("Garden")
    product = shop.product("Mug", category_id=kitchen, price="9.50", stock=5)
    response = admin_client.put(
        f"/product/admin/{product}", json={"price": 11.25, "category_id": garden}
    )
    assert response.status_code == 200
    assert response.json["message"] == "Product updated successfully"
    row = product_row(app, product)
    assert (row.name, row.price, row.stock, row.category_id) == ("Mug", Decimal("11.25"), 5, garden)
    assert (
        admin_client.put(f"/product/admin/{product}", json={"name": "Big Mug"}).status_code == 200
    )
    assert client.get(f"/product/{product}").json["name"] == "Big Mug"


@pytest.mark.parametrize("field", ["id", "reserved_stock", "created_at", "image_path"])
def test_edit_never_applies_other_fields(admin_client, shop, kitchen, app, field):
    product = shop.product("Mug", category_id=kitchen, stock=5)
    before = product_row(app, product)
    response = admin_client.put(f"/product/admin/{product}", json={"name": "Cup", field: 1})
    assert response.status_code == 400
    assert product_row(app, product) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"price": None}, "Price must be a number"),
        ({"stock": None}, "Stock must be a whole number"),
        ({"stock": 1.5}, "Stock must be a whole number"),
        ({"price": -2}, "Price cannot be a negative number"),
        ({"price": 0}, "Price must be greater than 0"),
        ({"stock": -1}, "Stock cannot be a negative number"),
        ({"category_id": 999}, "Category not found"),
        ({"name": "   "}, "Product name must be 1 to 100 characters long"),
    ],
)
def test_edit_refuses_invalid_values(admin_client, shop, kitchen, app, body, message):
    product = shop.product("Mug", category_id=kitchen, stock=5)
    before = product_row(app, product)
    response = admin_client.put(f"/product/admin/{product}", json=body)
    assert response.status_code == 400
    assert response.json["error"] == message
    assert product_row(app, product) == before


def test_edit_errors(admin_client, shop, kitchen):
    product = shop.product("Mug", category_id=kitchen)
    missing = admin_client.put("/product/admin/999", json={"name": "X"})
    assert missing.status_code == 400 and missing.json["error"] == "Product not found"
    empty = admin_client.put(f"/product/admin/{product}", json={})
    assert empty.status_code == 400 and empty.json["error"] == "No data provided"


def test_stock_cannot_go_below_reserved_stock(admin_client, shop, kitchen, app):
    product = shop.product("Mug", category_id=kitchen, stock=5)
    set_reserved(app, product, 3)
    refused = admin_client.put(f"/product/admin/{product}", json={"stock": 2, "name": "Renamed"})
    assert refused.status_code == 400
    assert refused.json["error"] == "Stock cannot be less than the reserved stock"
    assert product_row(app, product).stock == 5
    assert product_row(app, product).name == "Mug"
    assert admin_client.put(f"/product/admin/{product}", json={"stock": 3}).status_code == 200
    assert product_row(app, product).stock == 3


def test_stock_edit_racing_reservations_never_breaks_the_invariant(
    admin_client, shop, kitchen, app
):
    """Carts reserve units while the admin lowers the stock: whatever the interleaving,
    reserved_stock never exceeds stock and every edit is answered 200 or 400, never 500."""
    product = shop.product("Mug", category_id=kitchen, stock=10)
    results = []

    def reserve():
        with app.app_context():
            for _ in range(8):
                db.session.execute(
                    update(Product)
                    .where(Product.id == product, Product.stock - Product.reserved_stock >= 1)
                    .values(reserved_stock=Product.reserved_stock + 1)
                )
                db.session.commit()
            db.session.remove()

    def lower_stock():
        client = new_client(app)
        client.set_cookie("access_token", admin_client.get_cookie("access_token").value)
        for stock in (9, 8, 7, 6, 5, 4):
            results.append(
                client.put(f"/product/admin/{product}", json={"stock": stock}).status_code
            )

    threads = [threading.Thread(target=reserve), threading.Thread(target=lower_stock)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = product_row(app, product)
    assert row.reserved_stock <= row.stock
    assert set(results) <= {200, 400}


# --- delete --------------------------------------------------------------------------------------


def test_delete_keeps_order_history_and_removes_everything_else(
    admin_client, client, shop, kitchen, app, gcs
):
    product = shop.product("Mug", category_id=kitchen, price="9.50")
    other = shop.product("Bowl", category_id=kitchen)
    image = shop.image(product)
    shop.feature(product)
    with app.app_context():
        order = Order(
            stripe_session_id="cs_test_2",
            full_name="Jane",
            address_line_1="1 Road",
            city="Leeds",
            postcode="LS1 1AA",
            total_price="19.00",
        )
        order.items.append(OrderItem(product_id=product, name="Mug", price="9.50", quantity=2))
        db.session.add(order)
        db.session.commit()
        db.session.remove()
    response = admin_client.delete(f"/product/admin/{product}")
    assert response.status_code == 200
    assert response.json["message"] == "Product deleted successfully"
    assert client.get(f"/product/{product}").status_code == 400
    assert count_rows(app, ProductImage) == 0
    assert count_rows(app, FeaturedProduct) == 0
    assert image.split("/", 1)[1] not in gcs.names()
    assert client.get(f"/product/{other}").status_code == 200
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert (item.product_id, item.name, item.price, item.quantity) == (
            None,
            "Mug",
            Decimal("9.50"),
            2,
        )
        db.session.remove()


def test_delete_works_when_the_stored_image_is_already_gone(admin_client, shop, kitchen, gcs, app):
    product = shop.product("Mug", category_id=kitchen)
    gcs.delete(shop.image(product))
    assert admin_client.delete(f"/product/admin/{product}").status_code == 200
    assert count_rows(app, Product) == 0


def test_delete_works_when_storage_is_unreachable(make_app, accounts, shop, kitchen, app):
    product = shop.product("Mug", category_id=kitchen)
    shop.image(product)
    broken = make_app(STORAGE_EMULATOR_HOST="http://127.0.0.1:9", STORAGE_TIMEOUT_SECONDS=2)
    client = new_client(broken)
    accounts.login(client, "admin@example.com")
    assert client.delete(f"/product/admin/{product}").status_code == 200
    assert count_rows(app, Product) == 0


def test_delete_missing_product(admin_client):
    response = admin_client.delete("/product/admin/999")
    assert response.status_code == 400 and response.json["error"] == "Product not found"
