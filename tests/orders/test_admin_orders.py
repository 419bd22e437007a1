"""Admin order list, detail and status changes (contract §2.7.4–§2.7.7)."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from app.auth.models import User
from app.orders.models import Order, OrderItem


def place_order(shop, client, buyer, *, quantity=1, email="buyer@example.com", product=None):
    product = product or shop.product(stock=50)
    shop.fill(buyer, {product: quantity}, address=buyer.get("/address/default").status_code != 200)
    session_id = shop.checkout(buyer)
    shop.pay_and_notify(client, session_id, email=email)
    return buyer.get("/order/").get_json()["orders"][0]["order"]["id"]


def test_list_filter_and_detail(admin_client, customer, shop, client, db_session):
    buyer, email = customer
    first = place_order(shop, client, buyer, email=email)
    second = place_order(shop, client, buyer, quantity=2, email=email)
    listing = admin_client.get("/order/admin").get_json()
    assert [o["id"] for o in listing["orders"]] == [second, first]
    assert listing["orders"][0] == {
        "id": second, "order_date": listing["orders"][0]["order_date"], "total_price": 19.0,
        "status": "Processing", "full_name": "Jane Doe",
    }
    assert listing["total_orders"] == 2 and listing["total_pages"] == 1 and listing["current_page"] == 1
    assert admin_client.get("/order/admin?status=Shipped").get_json()["orders"] == []
    assert admin_client.get("/order/admin?status=Bogus").status_code == 400
    assert admin_client.get("/order/admin?page=9").get_json()["orders"] == []
    detail = admin_client.get(f"/order/admin/{first}").get_json()
    assert detail["customer_name"] == "Casey Customer"
    assert detail["order"]["customer_email"] == email
    assert detail["order_items"][0]["name"] == "Mug"
    user_id = db_session.scalars(select(User.id).where(User.email == email)).one()
    per_user = admin_client.get(f"/order/admin/user/{user_id}").get_json()
    assert per_user["total_orders"] == 2 and len(per_user["orders"][0]["order_items"]) == 1
    missing = admin_client.get("/order/admin/user/99999")
    assert missing.status_code == 400 and missing.get_json()["error"] == "User not found"
    assert admin_client.get("/order/admin/99999").get_json()["error"] == "Order not found"


def test_shipping_needs_a_valid_tracking_link_and_emails_the_customer(admin_client, customer, shop, client, mailgun):
    buyer, email = customer
    order_id = place_order(shop, client, buyer, email=email)
    for body, error in (
        ({"status": ""}, "Invalid order status"),
        ({"status": "Lost"}, "Invalid order status"),
        ({"status": "Shipped"}, "Tracking URL not provided"),
        ({"status": "Shipped", "tracking_url": "   "}, "Tracking URL not provided"),
        ({"status": "Shipped", "tracking_url": "javascript:alert(1)"}, "Tracking URL must be a valid http(s) link"),
        ({"status": "Shipped", "tracking_url": "https://t.example/" + "x" * 400}, "Tracking URL must be a valid http(s) link"),
        ({"status": "Delivered"}, "Cannot change an order from Processing to Delivered"),
    ):
        response = admin_client.put(f"/order/admin/{order_id}", json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"] == error
    assert admin_client.get(f"/order/admin/{order_id}").get_json()["order"]["status"] == "Processing"
    shipped = admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://track.example/ABC123"})
    assert shipped.get_json() == {"message": "Order status updated successfully"}
    [email_sent] = [m for m in mailgun.to(email) if "on its way" in m.subject]
    assert "https://track.example/ABC123" in email_sent.text and "https://track.example/ABC123" in email_sent.html
    delivered = admin_client.put(f"/order/admin/{order_id}", json={"status": "Delivered"})
    assert delivered.status_code == 200
    order = admin_client.get(f"/order/admin/{order_id}").get_json()["order"]
    assert order["status"] == "Delivered" and order["tracking_url"] == "https://track.example/ABC123"
    assert admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://x.example"}).status_code == 400
    assert len([m for m in mailgun.to(email) if "on its way" in m.subject]) == 1


def test_a_shipped_order_can_get_a_corrected_tracking_link(admin_client, customer, shop, client, mailgun):
    buyer, email = customer
    order_id = place_order(shop, client, buyer, email=email)
    admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://t.example/WRONG"})
    fixed = admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://t.example/RIGHT"})
    assert fixed.status_code == 200
    assert admin_client.get(f"/order/admin/{order_id}").get_json()["order"]["tracking_url"] == "https://t.example/RIGHT"
    shipped = [m for m in mailgun.to(email) if "on its way" in m.subject]
    assert len(shipped) == 2 and "RIGHT" in shipped[-1].text


def test_empty_status_filter_lists_every_order_and_huge_ids_are_not_found(admin_client, customer, shop, client):
    buyer, email = customer
    place_order(shop, client, buyer, email=email)
    assert admin_client.get("/order/admin?status=").get_json()["total_orders"] == 1
    response = admin_client.get("/order/admin/user/99999999999999999999999")
    assert response.status_code in (400, 404)
    assert response.get_json()["error"]


def test_history_shows_deleted_products_and_accounts(admin_client, customer, shop, client, db_session):
    buyer, email = customer
    order_id = place_order(shop, client, buyer, email=email)
    for status, extra in (("Shipped", {"tracking_url": "https://t.example/1"}), ("Delivered", {})):
        admin_client.put(f"/order/admin/{order_id}", json={"status": status, **extra})
    product_id = buyer.get("/order/").get_json()["orders"][0]["order_items"][0]["product_id"]
    assert admin_client.delete(f"/product/admin/{product_id}").status_code == 200
    item = buyer.get("/order/").get_json()["orders"][0]["order_items"][0]
    assert item["product_id"] is None and item["name"] == "Mug" and item["price"] == 9.5
    assert buyer.delete("/user/delete-account").status_code == 200
    detail = admin_client.get(f"/order/admin/{order_id}").get_json()
    assert detail["customer_name"] is None and detail["order"]["customer_email"] == email


def test_order_date_is_the_uk_calendar_date(admin_client, db_session):
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (summer time).
    order = Order(
        stripe_session_id="cs_test_date", customer_email="d@example.com", full_name="D", address_line_1="1",
        city="C", postcode="P", total_price=Decimal("1.00"), created_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
    )
    order.items.append(OrderItem(name="X", price=Decimal("1.00"), quantity=1))
    db_session.add(order)
    db_session.commit()
    assert admin_client.get("/order/admin").get_json()["orders"][0]["order_date"] == "2026-07-01"


def test_customer_history_pages_of_six_newest_first(customer, db_session, admin_client):
    buyer, email = customer
    user_id = db_session.scalars(select(User.id).where(User.email == email)).one()
    for index in range(8):
        order = Order(
            user_id=user_id, stripe_session_id=f"cs_test_{index}", customer_email=email, full_name="J",
            address_line_1="1", city="C", postcode="P", total_price=Decimal(index + 1),
            created_at=datetime(2026, 1, 1 + index, tzinfo=UTC),
        )
        order.items.append(OrderItem(name=f"Item {index}", price=Decimal(index + 1), quantity=1))
        db_session.add(order)
    db_session.commit()
    page_one = buyer.get("/order/").get_json()
    assert page_one["total_orders"] == 8 and page_one["total_pages"] == 2
    assert [o["order"]["total_price"] for o in page_one["orders"]] == [8.0, 7.0, 6.0, 5.0, 4.0, 3.0]
    page_two = buyer.get("/order/?page=2").get_json()
    assert [o["order"]["total_price"] for o in page_two["orders"]] == [2.0, 1.0]
    assert page_two["current_page"] == 2
    assert buyer.get("/order/?page=0").status_code == 400
    assert buyer.get("/order/?page=abc").status_code == 400
