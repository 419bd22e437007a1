"""Categories: public reads (contract §2.3) and admin management (§2.8.1)."""

import pytest

from app.cart.models import CartProduct
from app.catalog.models import Category, FeaturedProduct, Product, ProductImage
from app.extensions import db
from app.orders.models import Order, OrderItem
from tests.catalog.support import count_rows

# --- public --------------------------------------------------------------------------------------


def test_no_categories_is_an_empty_list(client):
    response = client.get("/category/")
    assert response.status_code == 200
    assert response.json == []


def test_categories_in_id_order(client, shop):
    garden, kitchen = shop.category("Garden"), shop.category("Kitchen")
    assert client.get("/category/").json == [
        {"id": garden, "name": "Garden"},
        {"id": kitchen, "name": "Kitchen"},
    ]


def test_one_category(client, shop):
    garden = shop.category("Garden")
    response = client.get(f"/category/{garden}")
    assert response.status_code == 200
    assert response.json == {"id": garden, "name": "Garden"}


@pytest.mark.parametrize("category_id", ["999", "0", "99999999999999999999"])
def test_missing_category_is_400(client, category_id):
    response = client.get(f"/category/{category_id}")
    assert response.status_code == 400
    assert response.json == {"error": "Category not found", "code": "category_not_found"}


# --- admin list ----------------------------------------------------------------------------------


def test_admin_list_newest_first_ten_per_page(admin_client, shop):
    ids = [shop.category(f"Category {n}") for n in range(12)]
    first = admin_client.get("/category/admin?page=1")
    assert first.status_code == 200
    assert [c["id"] for c in first.json["categories"]] == ids[::-1][:10]
    assert first.json["total_pages"] == 2 and first.json["total_categories"] == 12
    assert first.json["current_page"] == 1
    second = admin_client.get("/category/admin?page=2").json
    assert [c["id"] for c in second["categories"]] == ids[1::-1]
    beyond = admin_client.get("/category/admin?page=3")
    assert beyond.status_code == 200 and beyond.json["categories"] == []


def test_admin_list_empty(admin_client):
    response = admin_client.get("/category/admin?page=1")
    assert response.json == {
        "categories": [],
        "total_pages": 0,
        "current_page": 1,
        "total_categories": 0,
    }


def test_admin_list_bad_page(admin_client):
    assert admin_client.get("/category/admin?page=zero").status_code == 400


# --- create --------------------------------------------------------------------------------------


def test_create(admin_client, client):
    response = admin_client.post("/category/admin", json={"name": "  Garden  "})
    assert response.status_code == 201
    assert response.json == {"id": 1, "name": "Garden"}
    assert client.get("/category/").json == [{"id": 1, "name": "Garden"}]


@pytest.mark.parametrize("name", ["Garden", "garden", "GARDEN", " gArDeN "])
def test_names_are_unique_whatever_their_case(admin_client, shop, name):
    shop.category("Garden")
    response = admin_client.post("/category/admin", json={"name": name})
    assert response.status_code == 400
    assert response.json["error"] == "Category with the provided name already exists"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "Category name must be 1 to 20 characters long"),
        ({"name": "   "}, "Category name must be 1 to 20 characters long"),
        ({"name": "x" * 21}, "Category name must be 1 to 20 characters long"),
        ({"name": None}, "Category name is required"),
        ({"name": 12}, "Category name must be text"),
        ({"title": "Garden"}, None),
    ],
)
def test_create_refuses_bad_names(admin_client, app, body, message):
    response = admin_client.post("/category/admin", json=body)
    assert response.status_code == 400
    if message:
        assert response.json["error"] == message
    assert count_rows(app, Category) == 0


def test_create_needs_a_body(admin_client):
    response = admin_client.post("/category/admin")
    assert response.status_code == 400
    assert response.json["error"] == "No data provided"


def test_twenty_characters_are_fine(admin_client):
    assert admin_client.post("/category/admin", json={"name": "x" * 20}).status_code == 201


# --- rename --------------------------------------------------------------------------------------


def test_rename_ignores_the_id_the_storefront_sends_back(admin_client, client, shop):
    garden = shop.category("Garden")
    response = admin_client.put(f"/category/admin/{garden}", json={"id": 777, "name": "Outdoors"})
    assert response.status_code == 200
    assert response.json["message"] == "Category updated successfully"
    assert client.get("/category/").json == [{"id": garden, "name": "Outdoors"}]


def test_rename_checks_uniqueness(admin_client, shop):
    shop.category("Garden")
    kitchen = shop.category("Kitchen")
    response = admin_client.put(f"/category/admin/{kitchen}", json={"name": "GARDEN"})
    assert response.status_code == 400
    assert response.json["error"] == "Category with the provided name already exists"


def test_rename_to_its_own_name_in_another_case(admin_client, client, shop):
    garden = shop.category("garden")
    assert admin_client.put(f"/category/admin/{garden}", json={"name": "Garden"}).status_code == 200
    assert client.get(f"/category/{garden}").json["name"] == "Garden"


def test_rename_errors(admin_client, shop):
    garden = shop.category("Garden")
    missing = admin_client.put("/category/admin/999", json={"name": "Other"})
    assert missing.status_code == 400 and missing.json["error"] == "Category not found"
    too_long = admin_client.put(f"/category/admin/{garden}", json={"name": "y" * 21})
    assert too_long.status_code == 400
    no_name = admin_client.put(f"/category/admin/{garden}", json={"id": garden})
    assert no_name.status_code == 400 and no_name.json["error"] == "Category name is required"


# --- delete --------------------------------------------------------------------------------------


def test_delete_takes_products_images_featured_and_cart_lines_but_keeps_orders(
    admin_client, client, shop, app, gcs
):
    kitchen, garden = shop.category("Kitchen"), shop.category("Garden")
    mug = shop.product("Mug", category_id=kitchen, price="9.50")
    bowl = shop.product("Bowl", category_id=kitchen)
    hose = shop.product("Hose", category_id=garden)
    mug_image, hose_image = shop.image(mug), shop.image(hose)
    shop.feature(mug)
    shop.feature(hose)
    with app.app_context():
        from app.auth.models import Role, User
        from app.cart.models import Cart

        user = User(full_name="Guest User", role=Role.GUEST)
        db.session.add(user)
        db.session.flush()
        cart = Cart(user_id=user.id)
        db.session.add(cart)
        db.session.flush()
        db.session.add(CartProduct(cart_id=cart.id, product_id=bowl, quantity=1))
        order = Order(
            stripe_session_id="cs_test_1",
            full_name="Jane",
            address_line_1="1 Road",
            city="Leeds",
            postcode="LS1 1AA",
            total_price="9.50",
        )
        order.items.append(OrderItem(product_id=mug, name="Mug", price="9.50", quantity=1))
        db.session.add(order)
        db.session.commit()
        db.session.remove()

    response = admin_client.delete(f"/category/admin/{kitchen}")
    assert response.status_code == 200
    assert response.json["message"] == "Category deleted successfully"

    assert client.get(f"/category/{kitchen}").status_code == 400
    assert client.get(f"/product/{mug}").status_code == 400
    assert [p["name"] for p in client.get("/product/").json["products"]] == ["Hose"]
    assert [p["name"] for p in client.get("/product/featured-product").json] == ["Hose"]
    assert count_rows(app, Product) == 1
    assert count_rows(app, ProductImage) == 1
    assert count_rows(app, FeaturedProduct) == 1
    assert count_rows(app, CartProduct) == 0
    assert gcs.names() == {hose_image.split("/", 1)[1]}
    assert mug_image.split("/", 1)[1] not in gcs.names()
    with app.app_context():
        item = db.session.query(OrderItem).one()
        assert (item.product_id, item.name, str(item.price)) == (None, "Mug", "9.50")
        db.session.remove()


def test_delete_succeeds_when_an_image_is_already_gone(admin_client, shop, gcs, app):
    kitchen = shop.category("Kitchen")
    mug = shop.product("Mug", category_id=kitchen)
    gcs.delete(shop.image(mug))
    assert admin_client.delete(f"/category/admin/{kitchen}").status_code == 200
    assert count_rows(app, Category) == 0


def test_delete_missing_category(admin_client):
    response = admin_client.delete("/category/admin/999")
    assert response.status_code == 400
    assert response.json["error"] == "Category not found"
