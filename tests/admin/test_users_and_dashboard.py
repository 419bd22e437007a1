"""Admin users list, user detail and the dashboard (contract §2.7.1–§2.7.3)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.core.db import utcnow
from app.orders.models import Order, OrderItem
from app.orders.services import SHOP_TIME_ZONE
from tests.support.guests import guest_client


def test_user_list_newest_first_with_guests_and_empty_page_past_the_end(admin_client, accounts, client, app):
    emails = [accounts.signup(client) for _ in range(11)]
    guest_client(app)
    first = admin_client.get("/user/admin").get_json()
    assert first["total_users"] == 13 and first["total_pages"] == 2 and first["current_page"] == 1
    assert len(first["users"]) == 10
    assert first["users"][0] == {"id": 13, "full_name": "Guest User", "email": None, "role": "guest"}
    assert first["users"][1]["email"] == emails[-1]
    second = admin_client.get("/user/admin?page=2").get_json()
    assert [u["role"] for u in second["users"]][-1] == "admin"
    beyond = admin_client.get("/user/admin?page=5")
    assert beyond.status_code == 200 and beyond.get_json()["users"] == []


def test_user_detail_never_exposes_secrets(admin_client, accounts, client, db_session):
    email = accounts.signup(client)
    user_id = db_session.scalars(select(User.id).where(User.email == email)).one()
    detail = admin_client.get(f"/user/admin/{user_id}").get_json()
    assert set(detail) == {"id", "full_name", "email", "stripe_customer_id", "created_at", "role"}
    assert datetime.fromisoformat(detail["created_at"]).tzinfo is not None
    missing = admin_client.get("/user/admin/424242")
    assert missing.status_code == 400 and missing.get_json()["error"] == "User not found"


@pytest.mark.parametrize("path", ["/user/admin", "/user/admin/1", "/user/admin/dashboard"])
def test_admin_user_endpoints_refuse_non_admins(path, client, customer, app):
    assert client.get(path).status_code == 401
    buyer, _ = customer
    assert buyer.get(path).status_code == 403
    assert guest_client(app).get(path).status_code == 403


def make_order(db_session, created_at, status="Processing", total="10.00"):
    order = Order(
        stripe_session_id=f"cs_test_{created_at.timestamp()}_{status}_{total}",
        customer_email="d@example.com", full_name="D", address_line_1="1", city="C", postcode="P",
        total_price=Decimal(total), status=status, created_at=created_at,
    )
    order.items.append(OrderItem(name="X", price=Decimal(total), quantity=1))
    db_session.add(order)
    return order


def test_dashboard_figures_match_an_independent_count(admin_client, accounts, client, db_session, app):
    accounts.signup(client)
    guest_client(app)
    now = utcnow()
    year = now.astimezone(SHOP_TIME_ZONE).year
    uk = SHOP_TIME_ZONE
    seeds = [
        (datetime(year, 1, 15, 12, tzinfo=uk), "Delivered", "10.10"),
        (datetime(year, 1, 20, 12, tzinfo=uk), "Shipped", "20.20"),
        (datetime(year, 3, 3, 12, tzinfo=uk), "Processing", "0.05"),
        # 23:30 UTC on 31 May is 00:30 on 1 June in London: a June order.
        (datetime(year, 5, 31, 23, 30, tzinfo=UTC), "Processing", "1.00"),
        # 00:30 on 1 January in London is still the new year.
        (datetime(year, 1, 1, 0, 30, tzinfo=uk), "Delivered", "3.33"),
        # Last year's orders count in the totals but not in this year's graph.
        (datetime(year - 1, 12, 31, 23, 30, tzinfo=uk), "Delivered", "100.00"),
    ]
    for created_at, status, total in seeds:
        make_order(db_session, created_at.astimezone(UTC), status, total)
    db_session.commit()
    figures = admin_client.get("/user/admin/dashboard").get_json()
    expected_months = {str(m): 0 for m in range(1, 13)}
    for created_at, _, _ in seeds:
        local = created_at.astimezone(uk)
        if local.year == year:
            expected_months[str(local.month)] += 1
    assert figures == {
        "total_users": 3,
        "ongoing_orders": 3,
        "orders_overall": 6,
        "total_revenue": float(sum(Decimal(total) for _, _, total in seeds)),
        "graph_data": expected_months,
    }
    assert figures["graph_data"]["6"] == 1 and figures["graph_data"]["5"] == 0
    assert figures["total_revenue"] == 134.68
