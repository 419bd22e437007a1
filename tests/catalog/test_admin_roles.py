"""Every admin catalogue endpoint is for admins only: no token 401, guest and customer 403,
and a refused call changes nothing."""

import pytest

from app.catalog.models import Category, FeaturedProduct, Product, ProductImage
from tests.catalog.support import count_rows, picture, upload

ADMIN_ENDPOINTS = [
    ("GET", "/category/admin"),
    ("GET", "/category/admin?page=1"),
    ("POST", "/category/admin"),
    ("PUT", "/category/admin/{category}"),
    ("DELETE", "/category/admin/{category}"),
    ("GET", "/product/admin"),
    ("GET", "/product/admin?page=1&category_id={category}"),
    ("POST", "/product/admin"),
    ("PUT", "/product/admin/{product}"),
    ("DELETE", "/product/admin/{product}"),
    ("GET", "/product/admin/featured-product/{product}"),
    ("POST", "/product/admin/featured-product/{product}"),
    ("DELETE", "/product/admin/featured-product/{featured}"),
    ("POST", "/product/admin/product-image/{product}"),
]

BODIES = {
    ("POST", "/category/admin"): {"name": "Garden"},
    ("PUT", "/category/admin/{category}"): {"id": 1, "name": "Renamed"},
    ("POST", "/product/admin"): {
        "name": "Lamp",
        "description": "Bright",
        "price": "20",
        "stock": "3",
        "category_id": 1,
    },
    ("PUT", "/product/admin/{product}"): {"price": 1.5, "stock": 1},
}


@pytest.fixture
def catalogue(shop, app):
    category = shop.category("Kitchen")
    product = shop.product("Mug", category_id=category)
    featured = shop.feature(product)
    shop.image(product)
    return {"category": category, "product": product, "featured": featured}


def _call(client, method, template, ids):
    path = template.format(**ids)
    if template.startswith("/product/admin/product-image"):
        return upload(client, ids["product"], picture())
    body = BODIES.get((method, template))
    return client.open(path, method=method, json=body) if body else client.open(path, method=method)


def _snapshot(app):
    return [count_rows(app, model) for model in (Category, Product, FeaturedProduct, ProductImage)]


@pytest.mark.parametrize(("method", "template"), ADMIN_ENDPOINTS)
def test_anonymous_gets_401(client, catalogue, app, method, template):
    before = _snapshot(app)
    response = _call(client, method, template, catalogue)
    assert response.status_code == 401
    assert response.json["error"] == "Missing or invalid token"
    assert _snapshot(app) == before


@pytest.mark.parametrize(("method", "template"), ADMIN_ENDPOINTS)
def test_guest_gets_403(guest_client, catalogue, app, gcs, method, template):
    before, stored = _snapshot(app), gcs.names()
    response = _call(guest_client, method, template, catalogue)
    assert response.status_code == 403
    assert response.json["error"] == "Unauthorized access"
    assert _snapshot(app) == before
    assert gcs.names() == stored


@pytest.mark.parametrize(("method", "template"), ADMIN_ENDPOINTS)
def test_customer_gets_403(customer_client, catalogue, app, gcs, method, template):
    before, stored = _snapshot(app), gcs.names()
    response = _call(customer_client, method, template, catalogue)
    assert response.status_code == 403
    assert response.json["error"] == "Unauthorized access"
    assert _snapshot(app) == before
    assert gcs.names() == stored


def test_a_forged_token_is_401_not_403(client, catalogue):
    client.set_cookie("access_token", "not-a-jwt")
    response = client.get("/product/admin")
    assert response.status_code == 401


def test_admin_preflight_needs_no_token(client):
    response = client.options(
        "/product/admin/featured-product/1",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_literal_segments_are_not_taken_for_ids(client, admin_client, catalogue):
    # "/product/admin" and "/product/featured-product" are endpoints of their own, not look-ups
    # of a product called "admin"; the same for "/category/admin".
    assert client.get("/product/admin").status_code == 401
    assert client.get("/category/admin").status_code == 401
    assert client.get("/product/featured-product").status_code == 200
    assert admin_client.get("/product/admin").json["total_products"] == 1
    assert admin_client.get("/category/admin").json["total_categories"] == 1
    # Paths are answered directly, with or without the trailing slash: never a redirect.
    for path in ("/product/", "/product", "/category/", "/category", "/product/admin/"):
        assert admin_client.get(path).status_code == 200, path
