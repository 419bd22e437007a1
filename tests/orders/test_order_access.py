"""Who sees which order: customers only their own, admins everything (contract §2.6.3,
§2.7, flaw 13)."""

import pytest

from tests.support.guests import guest_client

ADMIN_ENDPOINTS = [
    ("get", "/order/admin"),
    ("get", "/order/admin/1"),
    ("put", "/order/admin/1"),
    ("get", "/order/admin/user/1"),
]


def test_someone_elses_session_id_is_answered_like_an_unknown_one(customer, accounts, shop, client, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    shop.stripe.pay(session_id)
    other, _ = accounts.logged_in_client()
    theirs = other.get(f"/order/stripe_session_status?session_id={session_id}")
    unknown = other.get("/order/stripe_session_status?session_id=cs_test_nope")
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.get_json() == unknown.get_json()
    # Asking did not create the order for anybody.
    assert buyer.get("/order/").get_json()["total_orders"] == 0
    assert buyer.get(f"/order/stripe_session_status?session_id={session_id}").status_code == 200
    assert other.get("/order/").get_json()["orders"] == []


def test_missing_session_id(customer):
    buyer, _ = customer
    response = buyer.get("/order/stripe_session_status")
    assert response.status_code == 400
    assert response.get_json()["message"] == "No session id provided"


def test_anonymous_gets_401_on_customer_order_endpoints(client):
    assert client.get("/order/").status_code == 401
    assert client.post("/order/checkout", json={"full_name": "x"}).status_code == 401
    assert client.get("/order/stripe_session_status?session_id=x").status_code == 401


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
def test_admin_order_endpoints_refuse_everyone_else(method, path, client, customer, app):
    body = {"json": {"status": "Shipped"}} if method == "put" else {}
    assert getattr(client, method)(path, **body).status_code == 401
    buyer, _ = customer
    for caller in (buyer, guest_client(app)):
        response = getattr(caller, method)(path, **body)
        assert response.status_code == 403
        assert response.get_json()["error"] == "Unauthorized access"
