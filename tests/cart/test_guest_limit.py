"""Creating guests is limited per client address; shoppers who already hold a login are not
counted, so a busy household behind one address keeps shopping."""

import pytest

from tests.auth.test_rate_limits import client_from
from tests.cart.support import make_product


@pytest.fixture
def limited_app(make_app):
    return make_app(GUEST_RATE_LIMIT="3 per minute")


def test_new_guests_from_one_address_are_limited(limited_app):
    product = make_product(limited_app, stock=100)
    statuses = [
        client_from(limited_app, "10.88.0.1").post(f"/cart/{product}", json={"quantity": 1}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    other_address = client_from(limited_app, "10.88.0.2")
    assert other_address.post(f"/cart/{product}", json={"quantity": 1}).status_code == 200


def test_a_shopper_with_a_cart_keeps_adding_beyond_the_limit(limited_app):
    products = [make_product(limited_app, name=f"Item {n}", stock=100) for n in range(6)]
    shopper = client_from(limited_app, "10.88.0.3")
    for product in products:
        assert shopper.post(f"/cart/{product}", json={"quantity": 1}).status_code == 200
    assert len(shopper.get("/cart/").get_json()) == 6
