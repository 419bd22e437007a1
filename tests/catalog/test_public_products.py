"""GET /product/ (shop list), /product/<id>, /product/product-image/<id> and
/product/featured-product (contract §2.4)."""

import pytest

from app.catalog.cache import bump_catalog_version
from tests.catalog.support import bulk_products, set_reserved
from tests.conftest import new_client
from tests.support.delivery import seen_soon


def names(response):
    return [product["name"] for product in response.json["products"]]


@pytest.fixture
def assorted(shop):
    """Five products in two categories, one out of stock, created in this order."""
    kitchen = shop.category("Kitchen")
    garden = shop.category("Garden")
    ids = {
        "banana bowl": shop.product("banana bowl", category_id=kitchen, price="12.00", stock=4),
        "Apple Crate": shop.product("Apple Crate", category_id=garden, price="30.50", stock=2),
        "cherry pot": shop.product("cherry pot", category_id=garden, price="5.25", stock=9),
        "Date Box": shop.product("Date Box", category_id=kitchen, price="18.00", stock=1),
        "Empty Jar": shop.product("Empty Jar", category_id=kitchen, price="3.00", stock=0),
    }
    return {"kitchen": kitchen, "garden": garden, **ids}


# --- the shop list -------------------------------------------------------------------------------


def test_empty_catalogue_is_an_empty_first_page(client):
    response = client.get("/product/?page=1")
    assert response.status_code == 200
    assert response.json == {
        "products": [],
        "total_pages": 0,
        "current_page": 1,
        "total_products": 0,
    }


def test_list_shows_in_stock_products_newest_first_with_shop_fields(client, shop, assorted):
    image_path = shop.image(assorted["Apple Crate"])
    response = client.get("/product/?page=1")
    assert response.status_code == 200
    body = response.json
    assert names(response) == ["Date Box", "cherry pot", "Apple Crate", "banana bowl"]
    assert body["total_products"] == 4 and body["total_pages"] == 1 and body["current_page"] == 1
    assert all(
        isinstance(body[key], int) for key in ("total_pages", "current_page", "total_products")
    )
    apple = next(p for p in body["products"] if p["name"] == "Apple Crate")
    assert apple == {
        "id": assorted["Apple Crate"],
        "name": "Apple Crate",
        "price": 30.5,
        "image_path": image_path,
        "category_name": "Garden",
    }
    banana = next(p for p in body["products"] if p["name"] == "banana bowl")
    assert banana["image_path"] is None
    assert isinstance(banana["price"], float) and banana["price"] == 12.0


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        ("Name+(A-Z)", ["Apple Crate", "banana bowl", "cherry pot", "Date Box"]),
        ("Name+(Z-A)", ["Date Box", "cherry pot", "banana bowl", "Apple Crate"]),
        ("Price+(Low+to+High)", ["cherry pot", "banana bowl", "Date Box", "Apple Crate"]),
        ("Price+(High+to+Low)", ["Apple Crate", "Date Box", "banana bowl", "cherry pot"]),
        ("Price%20(High%20to%20Low)", ["Apple Crate", "Date Box", "banana bowl", "cherry pot"]),
        ("Recommended", ["Date Box", "cherry pot", "Apple Crate", "banana bowl"]),
        ("nonsense", ["Date Box", "cherry pot", "Apple Crate", "banana bowl"]),
        ("", ["Date Box", "cherry pot", "Apple Crate", "banana bowl"]),
    ],
)
def test_sort_orders_as_the_storefront_sends_them(client, assorted, sort_by, expected):
    # axios encodes spaces as "+" and leaves parentheses alone; names sort ignoring case.
    response = client.get(f"/product/?page=1&sort_by={sort_by}")
    assert response.status_code == 200
    assert names(response) == expected


def test_category_filter(client, assorted):
    response = client.get(f"/product/?page=1&category_id={assorted['kitchen']}")
    assert names(response) == ["Date Box", "banana bowl"]
    assert response.json["total_products"] == 2
    garden = client.get(f"/product/?page=1&category_id={assorted['garden']}&sort_by=Name+(A-Z)")
    assert names(garden) == ["Apple Crate", "cherry pot"]


@pytest.mark.parametrize("value", ["", "all", "undefined", "null", "1.5", "-1x", "²"])
def test_non_numeric_category_means_all_categories(client, assorted, value):
    response = client.get(f"/product/?page=1&category_id={value}")
    assert response.status_code == 200
    assert response.json["total_products"] == 4


@pytest.mark.parametrize("value", ["0", "999", "99999999999999999"])
def test_unknown_category_is_an_empty_list(client, assorted, value):
    response = client.get(f"/product/?page=1&category_id={value}")
    assert response.status_code == 200
    assert response.json == {
        "products": [],
        "total_pages": 0,
        "current_page": 1,
        "total_products": 0,
    }


def test_pages_of_nine_last_page_and_past_the_end(client, app):
    bulk_products(app, 20)
    bump_catalog_version_in(app)
    first = client.get("/product/?page=1").json
    assert len(first["products"]) == 9
    assert first["total_pages"] == 3 and first["total_products"] == 20
    last = client.get("/product/?page=3").json
    assert len(last["products"]) == 2 and last["current_page"] == 3
    seen = {p["id"] for n in (1, 2, 3) for p in client.get(f"/product/?page={n}").json["products"]}
    assert len(seen) == 20
    past = client.get("/product/?page=4")
    assert past.status_code == 200
    assert past.json == {"products": [], "total_pages": 3, "current_page": 4, "total_products": 20}


def test_page_defaults_to_one(client, assorted):
    response = client.get("/product/")
    assert response.json["current_page"] == 1 and len(response.json["products"]) == 4


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "", "1e3", "²", "99999999999999999999"])
def test_page_that_is_not_a_positive_whole_number_is_400(client, assorted, page):
    response = client.get(f"/product/?page={page}")
    assert response.status_code == 400
    assert response.json["error"] == "Page must be a positive whole number"


def test_per_page_is_capped(client, app):
    bulk_products(app, 60)
    bump_catalog_version_in(app)
    response = client.get("/product/?page=1&per_page=1000")
    assert response.status_code == 200
    assert len(response.json["products"]) == 50
    assert response.json["total_pages"] == 2
    small = client.get("/product/?page=3&per_page=7").json
    assert len(small["products"]) == 7 and small["total_pages"] == 9
    assert client.get("/product/?per_page=0").status_code == 400


def test_search_matches_names_and_descriptions_ranked(client, shop):
    kitchen = shop.category("Kitchen")
    shop.product("Teapot", category_id=kitchen, description="Brews loose tea.")
    shop.product("Mug", category_id=kitchen, description="Holds coffee or tea.")
    shop.product("Spoon", category_id=kitchen, description="Stirs soup.")
    tea_towel = shop.product(
        "Tea Towel", category_id=kitchen, description="Dries tea cups; a tea lover's towel."
    )
    response = client.get("/product/?page=1&q=tea")
    assert sorted(names(response)) == ["Mug", "Tea Towel", "Teapot"]
    assert response.json["total_products"] == 3
    # The best match (the word in the name and twice in the description) comes first.
    assert response.json["products"][0]["id"] == tea_towel
    assert names(client.get("/product/?page=1&q=soup")) == ["Spoon"]
    assert names(client.get("/product/?page=1&q=towels")) == ["Tea Towel"]  # stemmed
    assert names(client.get("/product/?page=1&q=Coffee")) == ["Mug"]
    assert names(client.get("/product/?page=1&q=nothing+like+this")) == []
    # An explicit order still applies to the matches.
    ordered = client.get("/product/?page=1&q=tea&sort_by=Name+(A-Z)")
    assert names(ordered) == ["Mug", "Tea Towel", "Teapot"]


def test_search_combines_with_category_and_stock_filters(client, shop):
    kitchen, garden = shop.category("Kitchen"), shop.category("Garden")
    shop.product("Green Mug", category_id=kitchen)
    shop.product("Green Hose", category_id=garden)
    shop.product("Green Bucket", category_id=garden, stock=0)
    response = client.get(f"/product/?page=1&q=green&category_id={garden}")
    assert names(response) == ["Green Hose"]


@pytest.mark.parametrize(
    "q", ['"unbalanced', "a & b | !c", "'; drop table products; --", "(((", "%_\\"]
)
def test_search_never_fails_on_odd_input(client, assorted, q):
    response = client.get("/product/", query_string={"page": 1, "q": q})
    assert response.status_code == 200
    assert isinstance(response.json["products"], list)


def test_search_text_has_a_length_limit(client):
    response = client.get("/product/", query_string={"page": 1, "q": "x" * 101})
    assert response.status_code == 400
    assert "at most 100" in response.json["error"]


def test_blank_search_is_no_search(client, assorted):
    assert client.get("/product/?page=1&q=+++").json["total_products"] == 4


def test_unknown_query_parameters_are_ignored(client, assorted):
    assert client.get("/product/?page=1&_=12345&foo=bar").json["total_products"] == 4


# --- product detail ------------------------------------------------------------------------------


def test_product_detail_has_raw_stock_and_reservations(client, shop, app, assorted):
    set_reserved(app, assorted["Apple Crate"], 2)
    response = client.get(f"/product/{assorted['Apple Crate']}")
    assert response.status_code == 200
    assert response.json == {
        "id": assorted["Apple Crate"],
        "name": "Apple Crate",
        "description": "A sturdy mug.\nDishwasher safe.",
        "price": 30.5,
        "stock": 2,
        "reserved_stock": 2,
        "category_id": assorted["garden"],
    }


def test_product_detail_regardless_of_stock(client, assorted):
    response = client.get(f"/product/{assorted['Empty Jar']}")
    assert response.status_code == 200 and response.json["stock"] == 0


@pytest.mark.parametrize("product_id", ["999", "0", "99999999999999999999"])
def test_missing_product_is_400(client, product_id):
    response = client.get(f"/product/{product_id}")
    assert response.status_code == 400
    assert response.json["error"] == "Product not found"


def test_reserved_stock_change_shows_at_once_on_the_product_page(client, app, make_app, assorted):
    page = f"/product/{assorted['Date Box']}"

    def reserved():
        return client.get(page).json["reserved_stock"]

    assert reserved() == 0
    assert reserved() == 0  # now kept by this app
    shopper = new_client(make_app())  # another process of the shop
    added = shopper.post(f"/cart/{assorted['Date Box']}", json={"quantity": 1})
    assert added.status_code == 200
    seen_soon(reserved, 1, app=app)
    line = shopper.get("/cart/").json[0]["cart_product"]["id"]
    assert shopper.delete(f"/cart/{line}").status_code == 200
    seen_soon(reserved, 0, app=app)


# --- product image -------------------------------------------------------------------------------


def test_product_image(client, shop, assorted):
    path = shop.image(assorted["cherry pot"])
    response = client.get(f"/product/product-image/{assorted['cherry pot']}")
    assert response.status_code == 200
    assert response.json == {"image_path": path, "product_id": assorted["cherry pot"]}


def test_product_image_errors(client, assorted):
    missing = client.get("/product/product-image/999")
    assert missing.status_code == 400 and missing.json["error"] == "Product not found"
    no_image = client.get(f"/product/product-image/{assorted['cherry pot']}")
    assert no_image.status_code == 400 and no_image.json["error"] == "No product image found"


# --- featured products ---------------------------------------------------------------------------


def test_no_featured_products_is_an_error_so_the_home_page_hides_the_section(client, assorted):
    response = client.get("/product/featured-product")
    assert response.status_code == 400
    assert response.json["error"] == "No featured products found"


def test_featured_in_featuring_order_in_stock_only(client, shop, assorted):
    path = shop.image(assorted["Date Box"])
    for name in ("Date Box", "Empty Jar", "banana bowl", "Apple Crate"):
        shop.feature(assorted[name])
    response = client.get("/product/featured-product")
    assert response.status_code == 200
    assert [p["name"] for p in response.json] == ["Date Box", "banana bowl", "Apple Crate"]
    assert response.json[0] == {
        "id": assorted["Date Box"],
        "name": "Date Box",
        "price": 18.0,
        "image_path": path,
        "category_name": "Kitchen",
    }


def test_featured_all_out_of_stock_is_an_error(client, shop, assorted):
    shop.feature(assorted["Empty Jar"])
    assert client.get("/product/featured-product").status_code == 400


def bump_catalog_version_in(app):
    with app.app_context():
        bump_catalog_version()
