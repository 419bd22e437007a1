"""Order pages kept in one process's memory (the customer's history, the admin's order page)
follow orders, status changes and renames made through any other process at once, and one
customer's kept page is never shown to another."""

import pytest

from tests.auth.test_kept_checks import same_browser
from tests.orders.test_admin_orders import place_order
from tests.support.delivery import seen_soon


@pytest.fixture
def other_process(make_app):
    return make_app()


def statuses(history):
    return [entry["order"]["status"] for entry in history.get("/order/").get_json()["orders"]]


def test_history_kept_elsewhere_shows_new_orders_and_status_changes(
    admin_client, customer, shop, client, other_process
):
    buyer, email = customer
    elsewhere = same_browser(buyer, other_process)
    first = place_order(shop, client, buyer, email=email)
    assert statuses(elsewhere) == statuses(elsewhere) == ["Processing"]
    place_order(shop, client, buyer, email=email)
    seen_soon(lambda: statuses(elsewhere), ["Processing", "Processing"], app=other_process)
    shipped = admin_client.put(
        f"/order/admin/{first}", json={"status": "Shipped", "tracking_url": "https://track.example/1"}
    )
    assert shipped.status_code == 200
    seen_soon(lambda: statuses(elsewhere), ["Processing", "Shipped"], app=other_process)


def test_one_customers_kept_history_is_never_anothers(accounts, customer, shop, client, other_process):
    buyer, email = customer
    place_order(shop, client, buyer, email=email)
    assert statuses(same_browser(buyer, other_process)) == ["Processing"]
    stranger, _ = accounts.logged_in_client(full_name="Sam Stranger")
    assert statuses(same_browser(stranger, other_process)) == []
    assert same_browser(stranger, other_process).get("/order/?page=1").get_json()["orders"] == []


def test_admin_order_page_kept_elsewhere_follows_status_and_name(
    admin_client, customer, shop, client, other_process
):
    buyer, email = customer
    order = place_order(shop, client, buyer, email=email)
    admin_elsewhere = same_browser(admin_client, other_process)
    page = f"/order/admin/{order}"
    assert admin_elsewhere.get(page).get_json()["customer_name"] == "Casey Customer"
    assert admin_elsewhere.get(page).get_json()["order"]["status"] == "Processing"
    assert buyer.put("/user/edit-name", json={"full_name": "Casey Renamed"}).status_code == 200
    seen_soon(lambda: admin_elsewhere.get(page).get_json()["customer_name"], "Casey Renamed",
              app=other_process)
    assert admin_client.put(page, json={"status": "Shipped", "tracking_url": "https://t.example/9"}).status_code == 200
    seen_soon(lambda: admin_elsewhere.get(page).get_json()["order"]["status"], "Shipped",
              app=other_process)
    # A customer is never served the admin's kept page.
    assert same_browser(buyer, other_process).get(page).status_code == 403
