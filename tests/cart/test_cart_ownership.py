"""Ownership of cart lines: another user's line is answered exactly like a missing one, for
every method, and nothing of its owner changes."""

from __future__ import annotations

import pytest

from tests.cart.support import make_product, stock_of

MISSING_LINE = 987654


@pytest.fixture
def owner_with_lines(app, customer):
    """Customer A with two cart lines."""
    client, _ = customer
    mug = make_product(app, name="Mug", stock=8)
    pan = make_product(app, name="Pan", stock=8)
    assert client.post(f"/cart/{mug}", json={"quantity": 3}).status_code == 200
    assert client.post(f"/cart/{pan}", json={"quantity": 2}).status_code == 200
    lines = client.get("/cart/").json
    return client, [line["cart_product"]["id"] for line in lines], (mug, pan)


@pytest.fixture(params=["customer", "guest"])
def intruder(request, app, accounts):
    """User B: another customer, or a guest."""
    if request.param == "customer":
        client, _ = accounts.logged_in_client(full_name="Bea Other")
        return client
    from tests.conftest import new_client

    client = new_client(app)
    own = make_product(app, name="Bea's own")
    assert client.post(f"/cart/{own}", json={"quantity": 1}).status_code == 200
    return client


REQUESTS = [
    ("PUT", {"quantity": 1}),
    ("PUT", {"quantity": 5}),
    ("DELETE", None),
]


@pytest.mark.parametrize("method, body", REQUESTS)
def test_someone_elses_line_is_answered_like_a_missing_one(
    app, owner_with_lines, intruder, method, body
):
    owner, line_ids, products = owner_with_lines
    before = owner.get("/cart/").json
    stock_before = [stock_of(app, product) for product in products]

    missing = intruder.open(f"/cart/{MISSING_LINE}", method=method, json=body)
    assert missing.status_code == 400
    assert missing.json == {"error": "Cart product not found", "code": "cart_product_not_found"}
    for line_id in line_ids:
        foreign = intruder.open(f"/cart/{line_id}", method=method, json=body)
        assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json)

    assert owner.get("/cart/").json == before
    assert [stock_of(app, product) for product in products] == stock_before


def test_the_intruders_own_cart_is_untouched_by_its_attempts(app, owner_with_lines, intruder):
    _, line_ids, _ = owner_with_lines
    before = intruder.get("/cart/").json
    for line_id in line_ids:
        intruder.put(f"/cart/{line_id}", json={"quantity": 2})
        intruder.delete(f"/cart/{line_id}")
    assert intruder.get("/cart/").json == before
