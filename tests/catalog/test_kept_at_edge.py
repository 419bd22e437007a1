"""Public catalogue answers kept by a process are served at the request edge, before Flask
routes the request: the same bytes and headers as Flask would send, the same checks, and
never a moment staler."""

import pytest
from flask import request_started

from app.catalog.cache import CATALOG
from app.core.edge import ShopFlask, check_public_views
from app.core.response_cache import cached_response
from tests.conftest import new_client
from tests.core.test_edge import production_settings
from tests.support.delivery import seen_soon

ORIGIN = "http://localhost:3000"


@pytest.fixture
def kitchen(shop):
    return shop.category("Kitchen")


def read(app, client, path, **kwargs):
    """The answer to GET `path`, and whether Flask dispatched it (its request_started signal
    fires for every request it routes; an answer from the edge never reaches it)."""
    dispatched = []

    def note(sender, **_extra):
        dispatched.append(sender)

    request_started.connect(note, app)
    try:
        response = client.get(path, **kwargs)
    finally:
        request_started.disconnect(note, app)
    return response, bool(dispatched)


def without_request_id(response):
    return [(name, value) for name, value in response.headers if name != "X-Request-ID"]


@pytest.mark.parametrize(
    "page",
    [
        "/product/?page=1",
        "/category/",
        "one category",
        "/product/featured-product",
        "product detail",
        "product image",
    ],
)
def test_a_kept_public_page_is_answered_at_the_edge_exactly_as_flask_answers_it(
    app, shop, kitchen, page
):
    mug = shop.product("Mug", category_id=kitchen, stock=5)
    shop.feature(mug)
    if page == "product image":
        shop.image(mug)
    path = {
        "one category": f"/category/{kitchen}",
        "product detail": f"/product/{mug}",
        "product image": f"/product/product-image/{mug}",
    }.get(page, page)
    client = new_client(app)
    headers = {"Origin": ORIGIN}
    computed, dispatched = read(app, client, path, headers=headers)
    assert computed.status_code == 200 and dispatched
    kept, dispatched = read(app, client, path, headers={**headers, "X-Request-ID": "edge-7"})
    assert not dispatched
    assert kept.get_data() == computed.get_data()
    assert without_request_id(kept) == without_request_id(computed)
    assert kept.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert kept.headers["Access-Control-Allow-Credentials"] == "true"
    assert kept.headers["Vary"] == "Origin"
    assert kept.headers["X-Request-ID"] == "edge-7"


def test_another_origin_gets_no_cors_grant_from_the_edge(app, shop, kitchen):
    shop.product("Mug", category_id=kitchen)
    client = new_client(app)
    read(app, client, "/product/?page=1")
    kept, dispatched = read(
        app, client, "/product/?page=1", headers={"Origin": "https://evil.example"}
    )
    assert not dispatched and kept.status_code == 200
    assert "Access-Control-Allow-Origin" not in kept.headers
    assert kept.headers["Vary"] == "Origin"


def test_a_write_makes_the_edge_recompute_the_page_at_once(app, shop, kitchen, admin_client):
    mug = shop.product("Mug", category_id=kitchen, price="4.00")
    client = new_client(app)
    read(app, client, f"/product/{mug}")
    assert not read(app, client, f"/product/{mug}")[1]

    # A write in this process: the next read is recomputed, then kept again.
    assert admin_client.put(f"/product/admin/{mug}", json={"price": "5.00"}).status_code == 200
    fresh, dispatched = read(app, client, f"/product/{mug}")
    assert dispatched and fresh.json["price"] == 5.0
    assert not read(app, client, f"/product/{mug}")[1]

    assert client.post(f"/cart/{mug}", json={"quantity": 2}).status_code == 200
    fresh, dispatched = read(app, client, f"/product/{mug}")
    assert dispatched and fresh.json["reserved_stock"] == 2


def test_a_write_in_another_process_reaches_the_edge(app, make_app, shop, kitchen, admin_client):
    other = make_app()
    reader = new_client(other)
    mug = shop.product("Mug", category_id=kitchen, price="4.00")
    read(other, reader, f"/product/{mug}")
    assert not read(other, reader, f"/product/{mug}")[1]
    assert admin_client.put(f"/product/admin/{mug}", json={"price": "6.00"}).status_code == 200
    seen_soon(lambda: reader.get(f"/product/{mug}").json["price"], 6.0, app=other)


def test_the_edge_still_requires_the_frontend_secret(make_app, shop, kitchen):
    app = make_app(**production_settings())
    app.config["ENFORCE_FRONTEND_SECRET"] = True
    shop.product("Mug", category_id=kitchen)
    client = app.test_client()
    secret = {"X-Frontend-Secret": "s3cret-header"}
    assert read(app, client, "/category/", headers=secret)[0].status_code == 200
    kept, dispatched = read(app, client, "/category/", headers=secret)
    assert kept.status_code == 200 and not dispatched
    for headers in ({}, {"X-Frontend-Secret": "nope"}):
        refused = client.get("/category/", headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "Forbidden"


def test_pages_kept_per_caller_are_never_answered_at_the_edge(app, customer_client):
    assert customer_client.get("/order/?page=1").status_code == 200
    stranger, dispatched = read(app, new_client(app), "/order/?page=1")
    assert dispatched
    assert stranger.status_code == 401


def test_head_and_other_raw_forms_of_a_kept_page_go_through_flask(app, shop, kitchen):
    shop.product("Mug", category_id=kitchen)
    client = new_client(app)
    page, dispatched = read(app, client, "/category/")
    assert dispatched
    assert not read(app, client, "/category/")[1]
    head = client.head("/category/")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == page.headers["Content-Length"]
    # The same page asked for without its trailing slash: its own entry, computed once.
    bare, dispatched = read(app, client, "/category")
    assert dispatched and bare.get_data() == page.get_data()
    assert not read(app, client, "/category")[1]


def test_a_process_whose_catalogue_bump_is_undelivered_serves_nothing_at_the_edge(
    make_app, shop, kitchen
):
    own = make_app()
    client = new_client(own)
    shop.product("Mug", category_id=kitchen)
    read(own, client, "/category/")
    assert not read(own, client, "/category/")[1]
    # What a bump made while the cache backend was down leaves behind (VersionedCache.bump):
    # this process may not trust what it kept until the bump is delivered.
    CATALOG._health(own).bump_pending = True
    answer, dispatched = read(own, client, "/category/")
    assert dispatched and answer.status_code == 200


def _one_public_view(decorate=None, hook=False, **config):
    app = ShopFlask("edge_check")
    app.config.update(config)
    app.edge_origin = "http://localhost:3000"
    from flask import Blueprint

    blueprint = Blueprint("pages", __name__)

    def view():
        return {"ok": True}

    view = cached_response(CATALOG, public=True)(view)
    if decorate is not None:
        view = decorate(view)
    blueprint.add_url_rule("/page", "page", view)
    if hook:
        blueprint.before_request(lambda: None)
    app.register_blueprint(blueprint)
    return app


def test_nothing_may_run_before_a_view_answered_at_the_edge():
    from functools import wraps

    def guard(view):
        @wraps(view)
        def guarded():
            return view()

        return guarded

    check_public_views(_one_public_view())
    with pytest.raises(RuntimeError, match="first decorator"):
        check_public_views(_one_public_view(decorate=guard))
    with pytest.raises(RuntimeError, match="before_request"):
        check_public_views(_one_public_view(hook=True))
    limited = _one_public_view(RATELIMIT_DEFAULT="100/minute")
    check_public_views(limited)
    assert limited.edge_origin is None
