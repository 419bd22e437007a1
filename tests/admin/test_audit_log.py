"""Every admin write is in the audit log: who, what, when, before and after."""

import io

from PIL import Image

from tests.cart.support import make_product
from tests.support.guests import guest_client


def entries(admin_client, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return admin_client.get(f"/admin/audit-log?{query}").get_json()["entries"]


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_catalogue_writes_are_recorded_with_before_and_after(admin_client):
    category = admin_client.post("/category/admin", json={"name": "Mugs"}).get_json()["id"]
    admin_client.put(f"/category/admin/{category}", json={"id": category, "name": "Cups"})
    product = admin_client.post(
        "/product/admin",
        json={"name": "Mug", "description": "Big", "price": "9.50", "stock": "4", "category_id": category},
    ).get_json()["product_id"]
    admin_client.put(f"/product/admin/{product}", json={"price": 11, "stock": 6, "name": "Mug"})
    featured = admin_client.post(f"/product/admin/featured-product/{product}").get_json()["id"]
    admin_client.delete(f"/product/admin/featured-product/{featured}")
    upload = admin_client.post(
        f"/product/admin/product-image/{product}",
        data={"image": (io.BytesIO(jpeg()), "mug.jpg")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    admin_client.delete(f"/product/admin/{product}")
    admin_client.delete(f"/category/admin/{category}")

    log = entries(admin_client, per_page=50)
    summary = [(e["action"], e["object_type"]) for e in reversed(log)]
    assert summary == [
        ("create", "category"), ("update", "category"), ("create", "product"), ("update", "product"),
        ("create", "featured_product"), ("delete", "featured_product"), ("create", "product_image"),
        ("delete", "product"), ("delete", "category"),
    ]
    assert all(e["actor_email"] == "admin@example.com" and e["actor_id"] == 1 for e in log)
    rename = next(e for e in log if e["action"] == "update" and e["object_type"] == "category")
    assert rename["changes"] == {"name": {"before": "Mugs", "after": "Cups"}}
    edit = next(e for e in log if e["action"] == "update" and e["object_type"] == "product")
    assert edit["changes"] == {"price": {"before": "9.50", "after": "11.00"}, "stock": {"before": 4, "after": 6}}
    assert edit["object_id"] == product and edit["created_at"]
    only_product = entries(admin_client, object_type="product", object_id=product)
    assert [e["action"] for e in only_product] == ["delete", "update", "create"]


def test_a_refused_write_leaves_no_entry(admin_client, app):
    product = make_product(app, stock=3, reserved_stock=2)
    response = admin_client.put(f"/product/admin/{product}", json={"stock": 1})
    assert response.status_code == 400
    assert entries(admin_client) == []


def test_order_status_changes_are_recorded(admin_client, db_session):
    from decimal import Decimal

    from app.orders.models import Order

    order = Order(
        stripe_session_id="cs_test_audit", customer_email=None, full_name="A", address_line_1="1",
        city="C", postcode="P", total_price=Decimal("1.00"),
    )
    db_session.add(order)
    db_session.commit()
    admin_client.put(f"/order/admin/{order.id}", json={"status": "Shipped", "tracking_url": "https://t.example/1"})
    [entry] = entries(admin_client, object_type="order")
    assert entry["changes"] == {
        "status": {"before": "Processing", "after": "Shipped"},
        "tracking_url": {"before": None, "after": "https://t.example/1"},
    }


def test_audit_log_is_admin_only_and_paginated(admin_client, client, customer, app):
    for index in range(3):
        admin_client.post("/category/admin", json={"name": f"C{index}"})
    page = admin_client.get("/admin/audit-log?per_page=2").get_json()
    assert page["total_entries"] == 3 and page["total_pages"] == 2 and len(page["entries"]) == 2
    assert admin_client.get("/admin/audit-log?object_type=bogus").status_code == 400
    assert client.get("/admin/audit-log").status_code == 401
    assert customer[0].get("/admin/audit-log").status_code == 403
    assert guest_client(app).get("/admin/audit-log").status_code == 403
