"""`flask seed-demo` fills an empty shop with a working demo catalogue, and only an empty one."""

import io

from PIL import Image

from app.catalog import demo
from app.catalog.models import Category, FeaturedProduct, Product, ProductImage
from tests.catalog.support import count_rows


def test_seed_demo_fills_an_empty_shop(app, client, gcs):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Seeding the demo catalogue" in result.output
    assert f"{len(demo.PRODUCTS)} products" in result.output
    assert count_rows(app, Category) == len(demo.CATEGORIES)
    assert count_rows(app, Product) == len(demo.PRODUCTS)
    assert count_rows(app, ProductImage) == len(demo.PRODUCTS)
    assert count_rows(app, FeaturedProduct) == 4
    assert len(gcs.names()) == len(demo.PRODUCTS)

    shop = client.get("/product/?page=1").json
    in_stock = sum(1 for product in demo.PRODUCTS if product[3] > 0)
    assert shop["total_products"] == in_stock and shop["total_pages"] == -(-in_stock // 9)
    assert all(p["image_path"] for p in shop["products"])
    featured = client.get("/product/featured-product").json
    assert [p["name"] for p in featured] == demo.FEATURED
    picture = Image.open(io.BytesIO(gcs.read(featured[0]["image_path"])))
    assert picture.format == "JPEG" and picture.size == (800, 800)
    detail = client.get(f"/product/{featured[0]['id']}").json
    assert "\n" in detail["description"]


def test_seed_demo_refuses_a_shop_that_has_a_catalogue(app, shop, gcs):
    shop.category("Mine")
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "not empty" in result.output
    assert count_rows(app, Category) == 1 and count_rows(app, Product) == 0
    assert gcs.names() == set()
