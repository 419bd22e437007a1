"""Order confirmation and shipped emails go through the outbox and a real Celery worker:
each exactly once, also when webhooks repeat and when Mailgun was down."""

import time

import pytest

from tests.conftest import new_client

pytestmark = pytest.mark.worker


def count(mailgun, email, words):
    return len([m for m in mailgun.to(email) if words in m.subject])


def test_confirmation_and_shipped_email_once_each_through_the_worker(worker_app, accounts, shop, mailgun):
    admin = new_client(worker_app)
    admin_email = accounts.verified(admin, email="boss@example.com")
    accounts.login(admin, admin_email)
    buyer = new_client(worker_app)
    email = accounts.verified(buyer)
    accounts.login(buyer, email)
    mug = shop.product(stock=5)
    shop.fill(buyer, {mug: 1})
    session_id = shop.checkout(buyer)
    session = shop.stripe.pay(session_id, email=email)

    mailgun.fail_with = 500  # Mailgun is down when the order is created
    stripe_side = new_client(worker_app)
    for _ in range(3):  # Stripe repeats the event
        assert shop.deliver(stripe_side, "checkout.session.completed", session, event_id="evt_repeat").status_code == 200
    time.sleep(1.5)
    assert count(mailgun, email, "confirmed") == 0
    mailgun.fail_with = None
    mailgun.wait_for(lambda m: m.to == email and "confirmed" in m.subject)

    order_id = buyer.get("/order/").get_json()["orders"][0]["order"]["id"]
    response = admin.put(f"/order/admin/{order_id}", json={"status": "Shipped", "tracking_url": "https://track.example/Z9"})
    assert response.status_code == 200
    [shipped] = mailgun.wait_for(lambda m: m.to == email and "on its way" in m.subject)
    assert "https://track.example/Z9" in shipped.text
    time.sleep(1.5)
    assert count(mailgun, email, "confirmed") == 1
    assert count(mailgun, email, "on its way") == 1

