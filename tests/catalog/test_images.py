"""POST /product/admin/product-image/<id> (contract §2.8.4): judged by content, cleaned of
metadata, stored in Google Cloud Storage (the emulator), one image per product."""

import io
import re

import pytest
from PIL import Image

from app.catalog.models import ProductImage
from tests.catalog.support import BUCKET, count_rows, jpeg_with_gps, picture, upload

OBJECT_RE = re.compile(rf"^{BUCKET}/[0-9a-f]{{32}}-[A-Za-z0-9._-]+$")


@pytest.fixture
def product(shop):
    return shop.product("Mug")


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type", "extension"),
    [
        ("JPEG", "mug.jpg", "image/jpeg", "jpg"),
        ("PNG", "mug.png", "image/png", "png"),
        ("WEBP", "mug.webp", "image/webp", "webp"),
        ("JPEG", "IMG 0001 (edited).JPEG", "image/jpeg", "jpg"),
        ("PNG", "photo.jpg", "image/png", "png"),  # the name says JPEG, the content says PNG
    ],
)
def test_valid_images_are_stored_and_readable(
    admin_client, client, product, gcs, app, fmt, filename, content_type, extension
):
    response = upload(admin_client, product, picture(fmt, size=(120, 80)), filename)
    assert response.status_code == 201, response.json
    assert response.json["message"] == "Product image created successfully"
    path = response.json["image_path"]
    assert OBJECT_RE.match(path), path
    assert path.endswith(f".{extension}")
    stored = Image.open(io.BytesIO(gcs.read(path)))
    assert stored.format == fmt and stored.size == (120, 80)
    assert gcs.blob(path).content_type == content_type
    assert client.get(f"/product/product-image/{product}").json["image_path"] == path
    assert count_rows(app, ProductImage) == 1


def test_file_names_are_sanitised(admin_client, product):
    path = upload(admin_client, product, picture(), "../../etc/pass wd<script>.jpg").json[
        "image_path"
    ]
    name = path.split("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}-[A-Za-z0-9._-]+\.jpg", name), name
    assert ".." not in name and "/" not in name
    unnamed = upload(admin_client, product, picture(), "....jpg").json["image_path"]
    assert unnamed.endswith("-image.jpg")


def test_metadata_is_dropped_and_orientation_applied(admin_client, product, gcs):
    path = upload(admin_client, product, jpeg_with_gps(), "holiday.jpg").json["image_path"]
    data = gcs.read(path)
    assert b"SERIAL-12345" not in data
    stored = Image.open(io.BytesIO(data))
    exif = stored.getexif()
    assert len(exif) == 0 and len(exif.get_ifd(0x8825)) == 0
    assert stored.size == (20, 40)  # turned upright, as the orientation tag asked


def test_replacing_deletes_the_old_object_after_the_new_one_is_in_place(
    admin_client, client, product, gcs
):
    first = upload(admin_client, product, picture(color=(1, 2, 3))).json["image_path"]
    second = upload(admin_client, product, picture("PNG"), "new.png").json["image_path"]
    assert first != second
    assert gcs.names() == {second.split("/", 1)[1]}
    assert client.get(f"/product/product-image/{product}").json["image_path"] == second


def test_replacing_when_the_old_object_is_already_gone(admin_client, product, gcs):
    first = upload(admin_client, product, picture()).json["image_path"]
    gcs.delete(first)
    response = upload(admin_client, product, picture("WEBP"), "x.webp")
    assert response.status_code == 201
    assert gcs.names() == {response.json["image_path"].split("/", 1)[1]}


def truncated_jpeg():
    data = picture("JPEG", size=(300, 300), quality=95)
    return data[: len(data) // 2]


def truncated_png():
    image = Image.effect_noise((200, 200), 50).convert("RGB")
    output = io.BytesIO()
    image.save(output, format="PNG")
    data = output.getvalue()
    return data[: len(data) // 2]


def oversized_png():
    # Noise does not compress: about 6 MB, over the 5 MB limit, yet a valid image.
    image = Image.frombytes("RGB", (1450, 1450), bytes(__import__("os").urandom(1450 * 1450 * 3)))
    output = io.BytesIO()
    image.save(output, format="PNG", compress_level=0)
    data = output.getvalue()
    assert 5 * 1024 * 1024 < len(data) < 8 * 1024 * 1024
    return data


def too_many_pixels_png():
    # Small file, huge picture: 6000 x 6000 = 36 million pixels, over the 25 million limit.
    image = Image.new("1", (6000, 6000))
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


def bomb_header_png():
    """A tiny file whose header claims 30000 x 30000 pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"hello, I am plain text pretending to be a photo", "photo.jpg", "Invalid image file"),
        (b"GIF89a" + b"\x00" * 40, "anim.gif", "Invalid image file"),
        (picture("GIF"), "real.gif", "Invalid image file"),
        (picture("BMP"), "real.bmp", "Invalid image file"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector.svg", "Invalid image file"),
        (truncated_jpeg(), "cut.jpg", "Invalid image file"),
        (truncated_png(), "cut.png", "Invalid image file"),
        (oversized_png(), "huge.png", "Image file is too large (at most 5 MB)"),
        (
            too_many_pixels_png(),
            "wide.png",
            "Image dimensions are too large (at most 25000000 pixels)",
        ),
        (bomb_header_png(), "bomb.png", "Image dimensions are too large (at most 25000000 pixels)"),
        (b"", "empty.jpg", "No image provided"),
    ],
    ids=[
        "text",
        "fake-gif",
        "gif",
        "bmp",
        "svg",
        "truncated-jpeg",
        "truncated-png",
        "oversized",
        "pixels",
        "bomb",
        "empty",
    ],
)
def test_bad_uploads_are_400_and_store_nothing(
    admin_client, product, gcs, app, data, filename, message
):
    response = upload(admin_client, product, data, filename)
    assert response.status_code == 400
    assert response.json["error"] == message
    assert gcs.names() == set()
    assert count_rows(app, ProductImage) == 0


def test_the_text_part_undefined_is_no_image(admin_client, product, gcs, app):
    # The new-product page sends this when the admin did not finish cropping.
    response = admin_client.post(
        f"/product/admin/product-image/{product}",
        data={"image": "undefined"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response.json["error"] == "No image provided"
    assert gcs.names() == set() and count_rows(app, ProductImage) == 0


def test_missing_file_part_is_no_image(admin_client, product, gcs, app):
    response = upload(admin_client, product, None, other="value")
    assert response.status_code == 400 and response.json["error"] == "No image provided"
    wrong_part = admin_client.post(
        f"/product/admin/product-image/{product}",
        data={"file": (io.BytesIO(picture()), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert wrong_part.status_code == 400 and wrong_part.json["error"] == "No image provided"
    not_multipart = admin_client.post(
        f"/product/admin/product-image/{product}", json={"image": "x"}
    )
    assert not_multipart.status_code == 400
    assert gcs.names() == set() and count_rows(app, ProductImage) == 0


def test_unknown_product_stores_nothing(admin_client, gcs, app):
    response = upload(admin_client, 999, picture())
    assert response.status_code == 400 and response.json["error"] == "Product not found"
    assert gcs.names() == set() and count_rows(app, ProductImage) == 0


def test_a_bad_replacement_keeps_the_current_image(admin_client, client, product, gcs):
    current = upload(admin_client, product, picture()).json["image_path"]
    assert upload(admin_client, product, b"not an image").status_code == 400
    assert client.get(f"/product/product-image/{product}").json["image_path"] == current
    assert gcs.names() == {current.split("/", 1)[1]}


def test_storage_down_leaves_no_row_and_keeps_the_current_image(
    make_app, accounts, admin_client, client, product, app, gcs
):
    from tests.conftest import new_client

    current = upload(admin_client, product, picture()).json["image_path"]
    broken = make_app(STORAGE_EMULATOR_HOST="http://127.0.0.1:9", STORAGE_TIMEOUT_SECONDS=1)
    broken_admin = new_client(broken)
    accounts.login(broken_admin, "admin@example.com")
    response = upload(broken_admin, product, picture("PNG"), "new.png")
    assert response.status_code == 400
    assert response.json["error"] == "Failed to store the image. Please try again later."
    assert client.get(f"/product/product-image/{product}").json["image_path"] == current
    assert count_rows(app, ProductImage) == 1
    assert gcs.names() == {current.split("/", 1)[1]}


def test_a_body_over_the_request_limit_is_refused(admin_client, product, gcs):
    response = upload(admin_client, product, b"\xff\xd8" + b"\x00" * (9 * 1024 * 1024))
    assert response.status_code in (400, 413)
    assert "error" in response.json
    assert gcs.names() == set()


def test_transparency_survives_cleaning(admin_client, product, gcs):
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 255, 0])
    output = io.BytesIO()
    image.save(output, format="PNG", transparency=0)
    path = upload(admin_client, product, output.getvalue(), "logo.png").json["image_path"]
    stored = Image.open(io.BytesIO(gcs.read(path)))
    assert stored.convert("RGBA").getpixel((0, 0)) == (255, 0, 0, 0)
