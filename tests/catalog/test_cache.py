"""The catalogue cache (Redis, on in these tests) is used, and never shows stale data after
a write made through the API; without Redis the catalogue still answers from the database."""

import pytest

from app.catalog.cache import VERSION_KEY, bump_catalog_version, cache_key, current_version
from app.extensions import cache
from tests.catalog.support import counting_statements, picture, upload
from tests.conftest import new_client


def shop_names(client, query=""):
    return [p["name"] for p in client.get(f"/product/?page=1{query}").json["products"]]


def cached_reads_cost_nothing(app, client, path):
    """Prove the read is served from Redis: a repeat sends no SQL."""
    client.get(path)
    with counting_statements(app) as counter:
        client.get(path)
    return counter.count == 0


@pytest.fixture
def kitchen(shop):
    return shop.category("Kitchen")


def test_cache_is_redis_and_used(app, client, shop, kitchen):
    shop.product("Mug", category_id=kitchen)
    assert app.config["CACHE_TYPE"] == "RedisCache"
    for path in ("/product/?page=1", "/category/", f"/category/{kitchen}"):
        assert cached_reads_cost_nothing(app, client, path), path
    with app.app_context():
        version = current_version()
        assert cache.get(cache_key("categories", {}, version)) is not None


def test_create_is_visible_at_once(app, client, shop, kitchen):
    shop.product("Mug", category_id=kitchen)
    assert cached_reads_cost_nothing(app, client, "/product/?page=1")
    shop.product("Bowl", category_id=kitchen)
    assert shop_names(client) == ["Bowl", "Mug"]
    shop.category("Garden")
    assert [c["name"] for c in client.get("/category/").json] == ["Kitchen", "Garden"]


def test_edit_is_visible_at_once(app, client, admin_client, shop, kitchen):
    mug = shop.product("Mug", category_id=kitchen, price="9.50")
    assert cached_reads_cost_nothing(app, client, "/product/?page=1")
    admin_client.put(f"/product/admin/{mug}", json={"name": "Big Mug", "price": 12})
    assert client.get("/product/?page=1").json["products"][0] | {"id": 0} == {
        "id": 0,
        "name": "Big Mug",
        "price": 12.0,
        "image_path": None,
        "category_name": "Kitchen",
    }
    admin_client.put(f"/product/admin/{mug}", json={"stock": 0})
    assert shop_names(client) == []
    admin_client.put(f"/product/admin/{mug}", json={"stock": 4})
    assert shop_names(client) == ["Big Mug"]


def test_category_rename_shows_in_every_cached_read(app, client, admin_client, shop, kitchen):
    mug = shop.product("Mug", category_id=kitchen)
    shop.feature(mug)
    for path in (
        "/product/?page=1",
        "/category/",
        f"/category/{kitchen}",
        "/product/featured-product",
    ):
        assert cached_reads_cost_nothing(app, client, path), path
    admin_client.put(f"/category/admin/{kitchen}", json={"id": kitchen, "name": "Cookware"})
    assert client.get("/product/?page=1").json["products"][0]["category_name"] == "Cookware"
    assert client.get("/product/featured-product").json[0]["category_name"] == "Cookware"
    assert client.get("/category/").json == [{"id": kitchen, "name": "Cookware"}]
    assert client.get(f"/category/{kitchen}").json["name"] == "Cookware"


def test_delete_is_visible_at_once(app, client, admin_client, shop, kitchen):
    mug = shop.product("Mug", category_id=kitchen)
    shop.image(mug)
    for path in ("/product/?page=1", f"/product/product-image/{mug}"):
        assert cached_reads_cost_nothing(app, client, path)
    admin_client.delete(f"/product/admin/{mug}")
    assert shop_names(client) == []
    assert client.get(f"/product/product-image/{mug}").status_code == 400
    admin_client.delete(f"/category/admin/{kitchen}")
    assert client.get("/category/").json == []
    assert client.get(f"/category/{kitchen}").status_code == 400


def test_feature_and_unfeature_are_visible_at_once(app, client, admin_client, shop, kitchen):
    mug = shop.product("Mug", category_id=kitchen)
    assert client.get("/product/featured-product").status_code == 400
    entry = shop.feature(mug)
    assert [p["name"] for p in client.get("/product/featured-product").json] == ["Mug"]
    assert cached_reads_cost_nothing(app, client, "/product/featured-product")
    admin_client.delete(f"/product/admin/featured-product/{entry}")
    assert client.get("/product/featured-product").status_code == 400


def test_new_image_is_visible_at_once_everywhere(app, client, admin_client, shop, kitchen):
    mug = shop.product("Mug", category_id=kitchen)
    shop.feature(mug)
    first = shop.image(mug)
    for path in ("/product/?page=1", f"/product/product-image/{mug}", "/product/featured-product"):
        assert cached_reads_cost_nothing(app, client, path)
    second = upload(admin_client, mug, picture("PNG"), "new.png").json["image_path"]
    assert second != first
    assert client.get("/product/?page=1").json["products"][0]["image_path"] == second
    assert client.get(f"/product/product-image/{mug}").json["image_path"] == second
    assert client.get("/product/featured-product").json[0]["image_path"] == second


def test_a_stock_change_by_another_domain_shows_after_its_bump(app, client, shop, kitchen):
    from sqlalchemy import update

    from app.catalog.models import Product
    from app.extensions import db

    mug = shop.product("Mug", category_id=kitchen, stock=1)
    assert cached_reads_cost_nothing(app, client, "/product/?page=1")
    with app.app_context():  # an order takes the last unit, then tells the catalogue
        db.session.execute(update(Product).where(Product.id == mug).values(stock=0))
        db.session.commit()
        bump_catalog_version()
        db.session.remove()
    assert shop_names(client) == []


def test_a_lost_version_counter_never_brings_old_entries_back(app, client, shop, kitchen):
    shop.product("Mug", category_id=kitchen)
    assert shop_names(client) == ["Mug"]
    with app.app_context():
        old = current_version()
        cache.delete(VERSION_KEY)  # evicted, or Redis restarted without its data
    shop.product("Bowl", category_id=kitchen)
    assert sorted(shop_names(client)) == ["Bowl", "Mug"]
    with app.app_context():
        assert int(cache.get(VERSION_KEY)) > old


def test_redis_down_reads_and_writes_still_work(make_app, accounts, shop, kitchen, app):
    shop.product("Mug", category_id=kitchen)
    down = make_app(CACHE_REDIS_URL="redis://127.0.0.1:1/0")
    visitor = new_client(down)
    response = visitor.get("/product/?page=1")
    assert response.status_code == 200
    assert [p["name"] for p in response.json["products"]] == ["Mug"]
    assert visitor.get("/category/").status_code == 200
    admin = new_client(down)
    accounts.login(admin, "admin@example.com")
    created = admin.post(
        "/product/admin",
        json={
            "name": "Bowl",
            "description": "",
            "price": "4",
            "stock": "2",
            "category_id": kitchen,
        },
    )
    assert created.status_code == 201
    assert [p["name"] for p in visitor.get("/product/?page=1").json["products"]] == ["Bowl", "Mug"]
    assert visitor.get(f"/product/{created.json['product_id']}").status_code == 200


def test_a_bump_missed_while_redis_was_down_is_delivered_later(make_app, app):
    """Simulate the outage on one app: its bump fails, then the cache comes back."""
    from app.catalog import cache as catalog_cache

    with app.app_context():
        before = current_version()
        health = catalog_cache._health()
        health.down_until = float("inf")  # the cache is unreachable for this process
        bump_catalog_version()
        assert health.bump_pending
        assert current_version() is None
        health.down_until = 0.0  # reachable again
        assert current_version() > before
        assert not health.bump_pending
