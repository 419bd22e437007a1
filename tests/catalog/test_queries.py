"""SQL statements per catalogue request: a constant number whatever the page size, none at
all when the cache already has the answer, and the search served by its GIN index."""

import pytest

from app.catalog.cache import bump_catalog_version
from app.extensions import db
from tests.catalog.support import bulk_products, counting_statements


def _bump(app):
    with app.app_context():
        bump_catalog_version()


def statements_for(app, client, path, *, cold=True):
    if cold:
        _bump(app)
    with counting_statements(app) as counter:
        response = client.get(path)
    assert response.status_code == 200, response.json
    return counter.count


@pytest.fixture
def big_catalogue(app, shop):
    ids = bulk_products(app, 60)
    for product_id in ids[:4]:
        shop.feature(product_id)
    return ids


def test_product_list_costs_the_same_for_1_and_50_products(app, client, big_catalogue):
    one = statements_for(app, client, "/product/?page=1&per_page=1")
    fifty = statements_for(app, client, "/product/?page=1&per_page=50")
    assert one == fifty == 2  # the count and the page, names and images joined in
    sorted_fifty = statements_for(app, client, "/product/?page=1&per_page=50&sort_by=Name+(A-Z)")
    searched = statements_for(app, client, "/product/?page=1&per_page=50&q=item")
    assert sorted_fifty == searched == 2


def test_admin_product_list_costs_the_same_for_1_and_50_products(app, admin_client, big_catalogue):
    one = statements_for(app, admin_client, "/product/admin?page=1&per_page=1")
    fifty = statements_for(app, admin_client, "/product/admin?page=1&per_page=50")
    # The count and the page; the login's check is kept from the admin's earlier requests.
    assert one == fifty == 2


@pytest.mark.parametrize(
    ("path", "cold", "warm"),
    [
        ("/category/", 1, 0),
        ("/category/{category}", 1, 0),
        ("/product/?page=1", 2, 0),
        ("/product/{product}", 1, 0),
        ("/product/product-image/{product}", 1, 0),
        ("/product/featured-product", 1, 0),
    ],
)
def test_public_endpoint_statement_counts(app, client, shop, path, cold, warm):
    category = shop.category("Kitchen")
    product = shop.product("Mug", category_id=category)
    shop.image(product)
    shop.feature(product)
    url = path.format(category=category, product=product)
    assert statements_for(app, client, url) == cold
    assert statements_for(app, client, url, cold=False) == warm


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/category/admin?page=1", 2),
        ("/product/admin?page=1", 2),
        ("/product/admin/featured-product/{product}", 1),
    ],
)
def test_admin_read_statement_counts(app, admin_client, shop, path, expected):
    """Statements besides the login's check, which the admin's earlier requests left kept."""
    product = shop.product("Mug")
    shop.feature(product)
    assert statements_for(app, admin_client, path.format(product=product)) == expected


def test_search_uses_the_full_text_index(app, client, big_catalogue):
    with counting_statements(app) as counter:
        _bump(app)
        client.get("/product/?page=1&q=item")
    count_sql = next(s for s in counter.statements if "count(" in s.lower() and "to_tsvector" in s)
    parameters = counter.parameters[counter.statements.index(count_sql)]
    with app.app_context():
        connection = db.session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql("EXPLAIN " + count_sql, parameters)
        )
        db.session.rollback()
    assert "ix_products_search" in plan, plan
