"""Admin featured products (contract §2.8.3): GET/POST by product id, DELETE by
featured-entry id, at most four, and the limit holds when admins race."""

import threading

import pytest

from app.catalog.models import FeaturedProduct
from tests.catalog.support import count_rows
from tests.conftest import new_client


@pytest.fixture
def products(shop):
    kitchen = shop.category("Kitchen")
    return [shop.product(f"P{n}", category_id=kitchen) for n in range(8)]


def test_feature_then_look_up_then_unfeature(admin_client, client, products):
    product = products[2]
    assert admin_client.get(f"/product/admin/featured-product/{product}").status_code == 400
    created = admin_client.post(f"/product/admin/featured-product/{product}")
    assert created.status_code == 201
    entry = created.json["id"]
    assert created.json == {"id": entry, "product_id": product}
    found = admin_client.get(f"/product/admin/featured-product/{product}")
    assert found.status_code == 200 and found.json == {"id": entry, "product_id": product}
    assert [p["id"] for p in client.get("/product/featured-product").json] == [product]
    removed = admin_client.delete(f"/product/admin/featured-product/{entry}")
    assert removed.status_code == 200
    assert removed.json["message"] == "Product removed from featured products successfully"
    assert admin_client.get(f"/product/admin/featured-product/{product}").status_code == 400
    assert client.get("/product/featured-product").status_code == 400


def test_delete_takes_the_entry_id_not_the_product_id(admin_client, products):
    first = admin_client.post(f"/product/admin/featured-product/{products[5]}").json["id"]
    assert first != products[5]
    wrong = admin_client.delete(f"/product/admin/featured-product/{products[5]}")
    assert wrong.status_code == 400 and wrong.json["error"] == "Featured product not found"
    assert count_rows(admin_client.application, FeaturedProduct) == 1
    assert admin_client.delete(f"/product/admin/featured-product/{first}").status_code == 200


def test_not_featured_message(admin_client, products):
    response = admin_client.get(f"/product/admin/featured-product/{products[0]}")
    assert response.status_code == 400 and response.json["error"] == "Product is not featured"


def test_at_most_four(admin_client, products, app):
    for product in products[:4]:
        assert admin_client.post(f"/product/admin/featured-product/{product}").status_code == 201
    refused = admin_client.post(f"/product/admin/featured-product/{products[4]}")
    assert refused.status_code == 400
    assert refused.json["error"] == "There are already 4 featured products"
    assert count_rows(app, FeaturedProduct) == 4


def test_errors(admin_client, products):
    admin_client.post(f"/product/admin/featured-product/{products[0]}")
    again = admin_client.post(f"/product/admin/featured-product/{products[0]}")
    assert again.status_code == 400 and again.json["error"] == "Product is already featured"
    missing = admin_client.post("/product/admin/featured-product/999")
    assert missing.status_code == 400 and missing.json["error"] == "Product not found"
    gone = admin_client.delete("/product/admin/featured-product/999")
    assert gone.status_code == 400 and gone.json["error"] == "Featured product not found"


def test_post_needs_no_body_and_ignores_a_content_type(admin_client, products):
    response = admin_client.post(
        f"/product/admin/featured-product/{products[1]}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201


def test_racing_admins_never_feature_more_than_four(admin_client, products, app):
    """Eight admins' tabs feature eight different products at the same moment."""
    cookie = admin_client.get_cookie("access_token").value
    barrier = threading.Barrier(len(products))
    statuses = []

    def feature(product_id):
        client = new_client(app)
        client.set_cookie("access_token", cookie)
        barrier.wait()
        statuses.append(client.post(f"/product/admin/featured-product/{product_id}").status_code)

    threads = [threading.Thread(target=feature, args=(p,)) for p in products]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 4 + [400] * 4
    assert count_rows(app, FeaturedProduct) == 4
