"""Checkout test fixtures: products, a shopper with a filled cart and an address, and the
stock invariant after every test."""

from __future__ import annotations

import json

import pytest

from tests.cart.support import make_product, stock_invariant_violations


@pytest.fixture(autouse=True)
def reserved_stock_invariant(app):
    yield
    assert stock_invariant_violations(app) == []


ADDRESS = {
    "full_name": "Jane Doe",
    "address_line_1": "1 High Street",
    "address_line_2": "",
    "city": "London",
    "postcode": "SW1A 1AA",
    "is_default": False,
}
CHECKOUT_BODY = {key: value for key, value in ADDRESS.items() if key != "is_default"}


class Shop:
    def __init__(self, app, fake_stripe):
        self.app = app
        self.stripe = fake_stripe

    def product(self, **kwargs) -> int:
        return make_product(self.app, **kwargs)

    def fill(self, client, lines: dict[int, int], *, address=True):
        for product_id, quantity in lines.items():
            response = client.post(f"/cart/{product_id}", json={"quantity": quantity})
            assert response.status_code == 200, response.get_json()
        if address:
            assert client.post("/address/", json=ADDRESS).status_code == 201

    def checkout(self, client, body=None) -> str:
        response = client.post("/order/checkout", json=body or CHECKOUT_BODY)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["session_id"]

    def deliver(self, client, event_type: str, session: dict, *, event_id=None):
        event = self.stripe.event(event_type, session, event_id=event_id)
        payload, headers = self.stripe.webhook(event)
        return client.post("/order/webhook", data=payload, headers=headers)

    def pay_and_notify(self, client, session_id: str, **pay_kwargs):
        session = self.stripe.pay(session_id, **pay_kwargs)
        response = self.deliver(client, "checkout.session.completed", session)
        assert response.status_code == 200, response.get_json()
        return response


@pytest.fixture
def shop(app, fake_stripe):
    return Shop(app, fake_stripe)


def body(response):
    return json.loads(response.get_data(as_text=True))
