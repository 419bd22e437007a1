"""POST /order/webhook: signatures, repeats, concurrency and event kinds (contract §2.6.4, §4)."""

import json
import threading
import time

import requests
from sqlalchemy import select

from app.cart.models import Cart
from app.orders.models import Order, StripeEvent
from tests.cart.support import LiveServer, count_rows, stock_of


def test_bad_signature_stale_timestamp_and_malformed_body_are_400_and_write_nothing(customer, shop, client, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    session = shop.stripe.pay(session_id)
    event = shop.stripe.event("checkout.session.completed", session)
    payload = json.dumps(event).encode()
    attempts = [
        (payload, {"Stripe-Signature": shop.stripe.sign(payload, secret="whsec_wrong")}),
        (payload, {"Stripe-Signature": shop.stripe.sign(payload, timestamp=int(time.time()) - 3600)}),
        (payload, {}),
        (payload + b" ", {"Stripe-Signature": shop.stripe.sign(payload)}),
        (b"not json", {"Stripe-Signature": shop.stripe.sign(b"not json")}),
        (b"", {"Stripe-Signature": "t=1,v1=abc"}),
        (payload, {"Stripe-Signature": "garbage"}),
    ]
    for body, headers in attempts:
        response = client.post("/order/webhook", data=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]
    assert count_rows(app, Order) == 0
    assert count_rows(app, StripeEvent) == 0


def test_webhook_needs_no_frontend_secret_or_origin(customer, shop, make_app):
    from tests.conftest import new_client
    from tests.core.test_edge import production_settings

    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    strict = make_app(**{**production_settings(), "STRIPE_WEBHOOK_SECRET": "whsec_fake_shop_secret", "STRIPE_API_KEY": "sk_test_fake_shop_key"})
    strict.config["ENFORCE_FRONTEND_SECRET"] = True
    response = shop.deliver(new_client(strict), "checkout.session.completed", shop.stripe.pay(session_id))
    assert response.status_code == 200


def test_repeated_event_is_answered_2xx_and_does_nothing_twice(customer, shop, client, app, mailgun):
    buyer, email = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 2})
    session_id = shop.checkout(buyer)
    session = shop.stripe.pay(session_id, email=email)
    first = shop.deliver(client, "checkout.session.completed", session, event_id="evt_same")
    again = shop.deliver(client, "checkout.session.completed", session, event_id="evt_same")
    other_id = shop.deliver(client, "checkout.session.completed", session, event_id="evt_other")
    assert [r.status_code for r in (first, again, other_id)] == [200, 200, 200]
    assert again.get_json()["message"] == "Event already processed"
    assert count_rows(app, Order) == 1
    assert stock_of(app, mug) == (3, 0)
    assert len([m for m in mailgun.to(email) if "confirmed" in m.subject]) == 1


def test_ten_concurrent_deliveries_and_polls_make_one_order(customer, shop, app, mailgun):
    buyer, email = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 3})
    session_id = shop.checkout(buyer)
    session = shop.stripe.pay(session_id, email=email)
    cookies = {"access_token": buyer.get_cookie("access_token").value}
    with LiveServer(app) as server:
        barrier = threading.Barrier(14)
        statuses = []

        def deliver(index):
            event = shop.stripe.event("checkout.session.completed", session, event_id=f"evt_{index % 3}")
            payload, headers = shop.stripe.webhook(event)
            barrier.wait()
            statuses.append(("webhook", requests.post(f"{server.url}/order/webhook", data=payload, headers=headers, timeout=30).status_code))

        def poll():
            barrier.wait()
            response = requests.get(
                f"{server.url}/order/stripe_session_status", params={"session_id": session_id}, cookies=cookies, timeout=30
            )
            statuses.append(("poll", response.status_code))

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
        threads += [threading.Thread(target=poll) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [s for kind, s in statuses if kind == "webhook"] == [200] * 10
    assert count_rows(app, Order) == 1
    assert stock_of(app, mug) == (2, 0)
    mailgun.wait_for(lambda m: m.to == email and "confirmed" in m.subject)
    assert len([m for m in mailgun.to(email) if "confirmed" in m.subject]) == 1


def test_expired_event_unlocks_the_cart_and_keeps_the_reservation(customer, shop, client, app, db_session):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 2})
    session_id = shop.checkout(buyer)
    response = shop.deliver(client, "checkout.session.expired", shop.stripe.expire(session_id))
    assert response.status_code == 200
    assert count_rows(app, Order) == 0
    assert stock_of(app, mug) == (5, 2)
    db_session.expire_all()
    assert all(cart.locked_at is None for cart in db_session.scalars(select(Cart)))
    assert buyer.get("/cart/").get_json()[0]["cart_product"]["quantity"] == 2


def test_events_out_of_order_never_undo_an_order(customer, shop, client, app, db_session):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    paid = shop.stripe.pay(session_id)
    shop.deliver(client, "checkout.session.completed", paid)
    late_expiry = dict(paid, status="expired")
    assert shop.deliver(client, "checkout.session.expired", late_expiry).status_code == 200
    assert count_rows(app, Order) == 1


def test_unpaid_completion_waits_for_async_success(customer, shop, client, app):
    buyer, _ = customer
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    pending = dict(shop.stripe.sessions[session_id], status="complete", payment_status="unpaid")
    assert shop.deliver(client, "checkout.session.completed", pending).status_code == 200
    assert count_rows(app, Order) == 0
    paid = shop.stripe.pay(session_id)
    assert shop.deliver(client, "checkout.session.async_payment_succeeded", paid).status_code == 200
    assert count_rows(app, Order) == 1


def test_ignored_and_unknown_events_are_2xx_and_write_nothing(shop, client, app):
    session = {"id": "cs_test_unknown", "status": "complete", "payment_status": "paid", "amount_total": 100, "currency": "gbp"}
    for kind in ("payment_intent.succeeded", "customer.created", "checkout.session.completed"):
        response = shop.deliver(client, kind, session)
        assert response.status_code == 200
    assert count_rows(app, Order) == 0
