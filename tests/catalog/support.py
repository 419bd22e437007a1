"""Helpers for the catalogue tests: the GCS emulator, pictures made with Pillow, an admin
that drives the catalogue through the API, guests made through the service layer, and a
SQL statement counter."""

from __future__ import annotations

import io
import socket
import threading
from contextlib import contextmanager
from decimal import Decimal

from PIL import Image
from sqlalchemy import event, func, insert, select

from app.extensions import db

BUCKET = "shop-test-images"


# --- Google Cloud Storage emulator -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StorageEmulator:
    """gcp-storage-emulator in this process (a thread), in memory, with one bucket."""

    def __init__(self, bucket: str = BUCKET):
        from gcp_storage_emulator.server import create_server

        self.bucket = bucket
        self.port = free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        self._server = create_server("127.0.0.1", self.port, in_memory=True, default_bucket=bucket)
        self._client = None

    def start(self) -> StorageEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def config(self) -> dict:
        return {
            "STORAGE_BACKEND": "gcs",
            "STORAGE_EMULATOR_HOST": self.host,
            "GOOGLE_CLOUD_STORAGE_BUCKET_NAME": self.bucket,
        }

    @property
    def client(self):
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            self._client = storage.Client(
                project="test",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.host},
            )
        return self._client

    def names(self) -> set[str]:
        return {blob.name for blob in self.client.list_blobs(self.bucket)}

    def read(self, image_path: str) -> bytes:
        bucket, _, name = image_path.partition("/")
        return self.client.bucket(bucket).blob(name).download_as_bytes()

    def blob(self, image_path: str):
        bucket, _, name = image_path.partition("/")
        return self.client.bucket(bucket).get_blob(name)

    def delete(self, image_path: str) -> None:
        bucket, _, name = image_path.partition("/")
        self.client.bucket(bucket).blob(name).delete()

    def clear(self) -> None:
        for name in self.names():
            self.client.bucket(self.bucket).blob(name).delete()


# --- pictures ------------------------------------------------------------------------------------


def picture(fmt: str = "JPEG", size=(64, 48), color=(200, 40, 40), **save_args) -> bytes:
    mode = "RGBA" if fmt in ("PNG", "WEBP") and save_args.pop("alpha", False) else "RGB"
    image = Image.new(mode, size, color if mode == "RGB" else (*color, 128))
    output = io.BytesIO()
    image.save(output, format=fmt, **save_args)
    return output.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF with a GPS position, a camera serial and an orientation."""
    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 0.0)
    output = io.BytesIO()
    image.save(output, format="JPEG", exif=exif.tobytes())
    data = output.getvalue()
    assert b"SERIAL-12345" in data
    return data


def upload(client, product_id: int, data: bytes | None, filename: str = "photo.jpg", **extra):
    form = dict(extra)
    if data is not None:
        form["image"] = (io.BytesIO(data), filename)
    return client.post(
        f"/product/admin/product-image/{product_id}",
        data=form,
        content_type="multipart/form-data",
    )


# --- the catalogue through the admin API -------------------------------------------------------


class Shop:
    """Builds the catalogue the way the admin panel does."""

    def __init__(self, admin):
        self.admin = admin

    def category(self, name: str = "Kitchen") -> int:
        response = self.admin.post("/category/admin", json={"name": name})
        assert response.status_code == 201, response.json
        return response.json["id"]

    def product(
        self,
        name: str = "Mug",
        *,
        category_id: int | None = None,
        price: str = "9.50",
        stock: int | str = 5,
        description: str = "A sturdy mug.\nDishwasher safe.",
    ) -> int:
        if category_id is None:
            category_id = self.category_named("Kitchen")
        response = self.admin.post(
            "/product/admin",
            json={
                "name": name,
                "description": description,
                "price": price,
                "stock": str(stock),
                "category_id": str(category_id),
            },
        )
        assert response.status_code == 201, response.json
        return response.json["product_id"]

    def category_named(self, name: str) -> int:
        found = [c for c in self.admin.get("/category/").json if c["name"] == name]
        return found[0]["id"] if found else self.category(name)

    def feature(self, product_id: int) -> int:
        response = self.admin.post(f"/product/admin/featured-product/{product_id}")
        assert response.status_code == 201, response.json
        return response.json["id"]

    def image(self, product_id: int, data: bytes | None = None, filename: str = "photo.jpg") -> str:
        response = upload(self.admin, product_id, data or picture(), filename)
        assert response.status_code == 201, response.json
        return response.json["image_path"]


# --- direct database access ----------------------------------------------------------------------


def bulk_products(
    app, count: int, *, category: str = "Bulk", with_images: bool = True
) -> list[int]:
    """Insert `count` in-stock products in one category (with image rows) straight into the
    database; returns their ids. The cache is not told: call bump_catalog_version()."""
    from app.catalog.models import Category, Product, ProductImage

    with app.app_context():
        category_id = db.session.scalar(
            insert(Category).values(name=category).returning(Category.id)
        )
        ids = db.session.scalars(
            insert(Product).returning(Product.id),
            [
                {
                    "name": f"Item {index:03d}",
                    "description": "Bulk item",
                    "price": Decimal("1.00") + index,
                    "stock": 3,
                    "reserved_stock": 0,
                    "category_id": category_id,
                }
                for index in range(count)
            ],
        ).all()
        if with_images:
            db.session.execute(
                insert(ProductImage),
                [{"product_id": pid, "image_path": f"{BUCKET}/{pid:032x}-item.jpg"} for pid in ids],
            )
        db.session.commit()
        db.session.remove()
    return list(ids)


def count_rows(app, model, *conditions) -> int:
    with app.app_context():
        value = db.session.scalar(select(func.count()).select_from(model).where(*conditions))
        db.session.remove()
    return value


def set_reserved(app, product_id: int, reserved: int) -> None:
    from sqlalchemy import update

    from app.catalog.models import Product

    with app.app_context():
        db.session.execute(
            update(Product).where(Product.id == product_id).values(reserved_stock=reserved)
        )
        db.session.commit()
        db.session.remove()


class StatementCounter:
    """Counts SQL statements sent by one engine."""

    def __init__(self):
        self.statements: list[str] = []
        self.parameters: list = []
        self._lock = threading.Lock()

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        with self._lock:
            self.statements.append(statement)
            self.parameters.append(parameters)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def counting_statements(app):
    with app.app_context():
        engine = db.engine
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)
