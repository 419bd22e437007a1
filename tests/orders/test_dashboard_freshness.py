"""The dashboard may cache its order figures, but every order, status change and account
change made through the API shows on the very next read."""


def test_each_change_shows_on_the_next_dashboard_read(admin_client, customer, accounts, shop, client):
    buyer, email = customer
    start = admin_client.get("/user/admin/dashboard").get_json()
    assert admin_client.get("/user/admin/dashboard").get_json() == start  # served again, unchanged

    mug = shop.product(price="12.50", stock=5)
    shop.fill(buyer, {mug: 2})
    shop.pay_and_notify(client, shop.checkout(buyer), email=email)
    after_order = admin_client.get("/user/admin/dashboard").get_json()
    assert after_order["orders_overall"] == start["orders_overall"] + 1
    assert after_order["ongoing_orders"] == start["ongoing_orders"] + 1
    assert after_order["total_revenue"] == start["total_revenue"] + 25.0
    assert sum(after_order["graph_data"].values()) == sum(start["graph_data"].values()) + 1

    order_id = buyer.get("/order/").get_json()["orders"][0]["order"]["id"]
    admin_client.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://t.example/9"})
    admin_client.put(f"/order/admin/{order_id}", json={"status": "Delivered"})
    delivered = admin_client.get("/user/admin/dashboard").get_json()
    assert delivered["ongoing_orders"] == start["ongoing_orders"]
    assert delivered["orders_overall"] == after_order["orders_overall"]

    accounts.signup(client)
    assert admin_client.get("/user/admin/dashboard").get_json()["total_users"] == delivered["total_users"] + 1
