"""The embedded default keeps images on local disk and serves them under /media."""

import io

import pytest
from PIL import Image

from app.catalog.models import ProductImage
from tests.catalog.support import count_rows, picture, upload
from tests.conftest import new_client


@pytest.fixture
def local(make_app, accounts, admin_client, tmp_path):
    application = make_app(
        STORAGE_BACKEND="local",
        LOCAL_STORAGE_DIR=str(tmp_path),
        GOOGLE_CLOUD_STORAGE_BUCKET_NAME="shop-images",
    )
    admin = new_client(application)
    accounts.login(admin, "admin@example.com")
    return application, admin, tmp_path


def test_upload_to_disk_and_serve_it(local, shop):
    application, admin, root = local
    product = shop.product("Mug")
    path = upload(admin, product, picture("PNG", size=(30, 30)), "mug.png").json["image_path"]
    assert path.startswith("shop-images/")
    assert (root / path).is_file()
    response = new_client(application).get(f"/media/{path}")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert Image.open(io.BytesIO(response.data)).size == (30, 30)


def test_replace_and_delete_remove_files(local, shop, app):
    _application, admin, root = local
    product = shop.product("Mug")
    first = upload(admin, product, picture()).json["image_path"]
    second = upload(admin, product, picture("WEBP"), "b.webp").json["image_path"]
    assert not (root / first).exists() and (root / second).is_file()
    (root / second).unlink()  # gone already: deletion must still succeed
    assert admin.delete(f"/product/admin/{product}").status_code == 200
    assert count_rows(app, ProductImage) == 0


def test_media_refuses_anything_but_stored_images(local):
    application, _admin, root = local
    (root / "secret.txt").write_text("no")
    visitor = new_client(application)
    for path in (
        "/media/shop-images/..%2Fsecret.txt",
        "/media/../secret.txt",
        "/media/shop-images/0123456789abcdef0123456789abcdef-missing.jpg",
        "/media/shop-images/not-ours.jpg",
        "/media/x/0123456789abcdef0123456789abcdef-a.jpg",
    ):
        response = visitor.get(path)
        assert response.status_code == 404, path
        assert response.json["error"]


def test_media_is_not_served_with_cloud_storage(client, shop, admin_client):
    product = shop.product("Mug")
    path = upload(admin_client, product, picture()).json["image_path"]
    assert client.get(f"/media/{path}").status_code == 404
