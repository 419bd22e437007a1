"""The embedded default (SQLite, local disk): the catalogue works end to end, with the LIKE
search standing in for PostgreSQL's full-text search."""

import pytest
from flask_migrate import upgrade

from app.extensions import db
from tests.catalog.support import Shop, picture, upload
from tests.conftest import PASSWORD, new_client


@pytest.fixture
def sqlite_shop(make_app, tmp_path):
    application = make_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        STORAGE_BACKEND="local",
        LOCAL_STORAGE_DIR=str(tmp_path / "media"),
        CACHE_KEY_PREFIX="shop:sqlite-test:",
    )
    with application.app_context():
        upgrade()
    result = application.test_cli_runner().invoke(
        args=[
            "create-admin",
            "--email",
            "lite@example.com",
            "--name",
            "Lite",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    admin = new_client(application)
    login = admin.post(
        "/user/login",
        json={"email": "lite@example.com", "password": PASSWORD, "remember_me": False},
    )
    assert login.status_code == 200, login.json
    yield application, Shop(admin), admin
    with application.app_context():
        db.engine.dispose()


def test_catalogue_on_sqlite(sqlite_shop):
    application, shop, admin = sqlite_shop
    visitor = new_client(application)
    kitchen = shop.category("Kitchen")
    mug = shop.product(
        "stoneware Mug", category_id=kitchen, price="9.50", description="Holds 100% tea"
    )
    shop.product("Bowl", category_id=kitchen, price="4.00", description="For soup and more")
    shop.product("Plate", category_id=kitchen, price="7.00", stock=0)
    path = upload(admin, mug, picture()).json["image_path"]
    shop.feature(mug)

    def names(query):
        products = visitor.get(f"/product/?page=1{query}").json["products"]
        return [p["name"] for p in products]

    assert names("") == ["Bowl", "stoneware Mug"]
    assert names("&sort_by=Name+(A-Z)") == ["Bowl", "stoneware Mug"]
    assert names("&sort_by=Price+(High+to+Low)") == ["stoneware Mug", "Bowl"]
    assert names("&q=MUG") == ["stoneware Mug"]
    assert names("&q=tea+stoneware") == ["stoneware Mug"]
    assert names("&q=100%25") == ["stoneware Mug"]  # % is a literal, not a wildcard
    assert names("&q=p_and") == []  # so is _ (it would match the space in "soup and")
    assert names("&q=soup+more") == ["Bowl"]
    assert visitor.get("/product/featured-product").json[0]["image_path"] == path
    assert visitor.get(f"/media/{path}").status_code == 200
    assert admin.delete(f"/category/admin/{kitchen}").status_code == 200
    assert names("") == []
