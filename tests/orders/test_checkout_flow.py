"""The whole purchase against the fake Stripe (contract §2.6, §4)."""

from decimal import Decimal

from sqlalchemy import select

from app.cart.models import Cart, CartProduct
from app.orders.models import CheckoutSession, Order
from tests.cart.support import count_rows, stock_of
from tests.orders.conftest import CHECKOUT_BODY


def test_customer_buys_and_sees_the_order(customer, shop, client, mailgun, app, db_session):
    buyer, email = customer
    mug = shop.product(name="Mug", price="9.50", stock=5)
    pot = shop.product(name="Teapot", price="20.00", stock=2)
    shop.fill(buyer, {mug: 2, pot: 1})
    session_id = shop.checkout(buyer)

    sent = shop.stripe.sessions[session_id]
    assert sent["amount_total"] == 3900
    assert sent["currency"] == "gbp"
    assert sent["success_url"] == f"http://localhost:3000/checkout/success?session_id={session_id}"
    assert sent["cancel_url"] == "http://localhost:3000/checkout/cancel"
    assert sent["customer_email"] == email
    assert 1800 <= sent["expires_at"] - sent["created"] <= 1900
    assert sent["metadata"]["full_name"] == "Jane Doe"
    assert {item["price_data"]["unit_amount"] for item in sent["line_items_sent"]} == {"950", "2000"}
    assert db_session.scalars(select(Cart)).all()[-1].locked_at is not None

    assert buyer.get(f"/order/stripe_session_status?session_id={session_id}").status_code == 400
    shop.pay_and_notify(client, session_id, email=email)

    assert buyer.get(f"/order/stripe_session_status?session_id={session_id}").get_json() == {
        "success": True, "message": "Order found",
    }
    history = buyer.get("/order/").get_json()
    assert history["total_orders"] == 1 and history["current_page"] == 1 and history["total_pages"] == 1
    [entry] = history["orders"]
    assert entry["order"]["total_price"] == 39.0
    assert entry["order"]["status"] == "Processing"
    assert entry["order"]["city"] == "London"
    assert sorted((i["name"], i["quantity"], i["price"]) for i in entry["order_items"]) == [("Mug", 2, 9.5), ("Teapot", 1, 20.0)]
    assert stock_of(app, mug) == (3, 0)
    assert stock_of(app, pot) == (1, 0)
    assert buyer.get("/cart/").get_json() == []
    db_session.expire_all()
    assert all(cart.locked_at is None for cart in db_session.scalars(select(Cart)))
    [confirmation] = mailgun.to(email)[-1:]
    assert f"#{entry['order']['id']}" in confirmation.subject
    assert "Teapot" in confirmation.text and "39.00" in confirmation.text and "SW1A 1AA" in confirmation.text


def test_guest_checks_out_too(app, shop, client, mailgun):
    from tests.conftest import new_client

    guest = new_client(app)
    mug = shop.product(stock=3)
    shop.fill(guest, {mug: 1})
    assert guest.get("/address/default").get_json()["full_name"] == "Jane Doe"
    session_id = shop.checkout(guest)
    assert "customer_email" not in shop.stripe.sessions[session_id] or not shop.stripe.sessions[session_id]["customer_email"]
    shop.pay_and_notify(client, session_id, email="guest-buyer@example.com")
    assert guest.get(f"/order/stripe_session_status?session_id={session_id}").status_code == 200
    assert stock_of(app, mug) == (2, 0)
    assert mailgun.to("guest-buyer@example.com")
    # Guests have no order history page.
    assert guest.get("/order/").status_code == 403


def test_order_keeps_prices_at_purchase_time(customer, shop, client, app, db_session):
    buyer, _ = customer
    mug = shop.product(price="9.50", stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    from app.catalog.models import Product

    db_session.get(Product, mug).price = Decimal("99.00")
    db_session.commit()
    shop.pay_and_notify(client, session_id)
    order = db_session.scalars(select(Order)).one()
    assert order.total_price == Decimal("9.50")
    assert order.items[0].price == Decimal("9.50")


def test_checkout_validations(customer, shop, make_app):
    buyer, _ = customer
    no_address = buyer.post("/order/checkout", json={**CHECKOUT_BODY, "city": ""})
    assert no_address.status_code == 400 and no_address.get_json()["error"] == "Address not provided"
    empty = buyer.post("/order/checkout", json=CHECKOUT_BODY)
    assert empty.status_code == 400 and empty.get_json()["error"] == "Cart is empty"
    for bad in ({"full_name": 5}, {"city": "x" * 500}):
        response = buyer.post("/order/checkout", json={**CHECKOUT_BODY, **bad})
        assert response.status_code == 400


def test_address_line_2_may_be_null_or_absent(customer, shop):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    body = {k: v for k, v in CHECKOUT_BODY.items() if k != "address_line_2"}
    assert buyer.post("/order/checkout", json=body).status_code == 200
    assert buyer.post("/order/checkout", json={**body, "address_line_2": None}).status_code == 200


def test_without_a_stripe_key_checkout_is_503(make_app, shop, accounts, admin_client):
    from tests.conftest import new_client

    app = make_app(STRIPE_API_KEY=None)
    buyer = new_client(app)
    email = accounts.verified(buyer)
    accounts.login(buyer, email)
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    response = buyer.post("/order/checkout", json=CHECKOUT_BODY)
    assert response.status_code == 503
    assert response.get_json()["error"]
    assert buyer.get("/cart/").get_json()[0]["cart_product"]["quantity"] == 1


def test_stripe_refusal_leaves_the_cart_unlocked_and_no_snapshot(customer, shop, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    shop.stripe.fail_next_create = True
    response = buyer.post("/order/checkout", json=CHECKOUT_BODY)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Failed to create Stripe checkout session"
    assert count_rows(app, CheckoutSession) == 0
    assert buyer.put(f"/cart/{buyer.get('/cart/').get_json()[0]['cart_product']['id']}", json={"quantity": 2}).status_code == 200


def test_a_new_checkout_expires_the_previous_session(customer, shop, client, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    first = shop.checkout(buyer)
    second = shop.checkout(buyer)
    assert first != second
    assert shop.stripe.sessions[first]["status"] == "expired"
    assert shop.stripe.sessions[second]["status"] == "open"
    shop.pay_and_notify(client, second)
    assert count_rows(app, Order) == 1


def test_changing_the_cart_during_checkout_expires_the_session(customer, shop, client, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    pot = shop.product(name="Pot", stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    assert buyer.post(f"/cart/{pot}", json={"quantity": 1}).status_code == 200
    assert shop.stripe.sessions[session_id]["status"] == "expired"
    # Nothing can be paid for the old session; a new checkout charges for both lines.
    new_session = shop.checkout(buyer)
    assert shop.stripe.sessions[new_session]["amount_total"] == 950 + 950
    shop.pay_and_notify(client, new_session)
    order_items = buyer.get("/order/").get_json()["orders"][0]["order_items"]
    assert sorted(item["product_id"] for item in order_items) == [mug, pot]


def test_cart_change_after_payment_is_refused_and_the_order_completed(customer, shop, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 2})
    session_id = shop.checkout(buyer)
    shop.stripe.pay(session_id)  # paid, but the webhook has not arrived yet
    line_id = buyer.get("/cart/").get_json()[0]["cart_product"]["id"]
    response = buyer.put(f"/cart/{line_id}", json={"quantity": 5})
    assert response.status_code == 400
    assert response.get_json()["code"] == "checkout_already_paid"
    orders = buyer.get("/order/").get_json()["orders"]
    assert len(orders) == 1 and orders[0]["order_items"][0]["quantity"] == 2
    assert stock_of(app, mug) == (3, 0)


def test_amount_mismatch_creates_no_order(customer, shop, client, app, caplog):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    shop.pay_and_notify(client, session_id, amount_total=1)
    assert count_rows(app, Order) == 0
    assert "no order created" in caplog.text
    assert stock_of(app, mug) == (5, 1)


def test_lost_webhook_the_success_page_poll_completes_the_order(customer, shop, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    shop.stripe.pay(session_id)
    response = buyer.get(f"/order/stripe_session_status?session_id={session_id}")
    assert response.status_code == 200
    assert count_rows(app, Order) == 1
    assert count_rows(app, CartProduct) == 0


def test_lost_webhook_reconciliation_completes_and_closes(customer, shop, app, db_session):
    from app.orders import checkout

    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    paid = shop.checkout(buyer)
    shop.stripe.pay(paid)
    with app.app_context():
        fixed = checkout.reconcile()
    assert fixed["orders_completed"] == 1
    assert count_rows(app, Order) == 1
    # An expired session whose webhook was lost: its cart is unlocked by the reconciliation.
    shop.fill(buyer, {mug: 1}, address=False)
    expired = shop.checkout(buyer)
    shop.stripe.expire(expired)
    with app.app_context():
        fixed = checkout.reconcile()
        again = checkout.reconcile()
    assert fixed["checkouts_closed"] == 1 and again["orders_completed"] == again["checkouts_closed"] == 0
    db_session.expire_all()
    assert all(cart.locked_at is None for cart in db_session.scalars(select(Cart)))
    assert count_rows(app, Order) == 1


def test_deleting_an_account_cancels_its_open_checkout(customer, shop, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 2})
    session_id = shop.checkout(buyer)
    response = buyer.delete("/user/delete-account")
    assert response.status_code == 200, response.get_json()
    assert shop.stripe.sessions[session_id]["status"] == "expired"
    assert stock_of(app, mug) == (5, 0)
