"""Ownership of addresses: for every address endpoint, another user's address is answered
exactly like a missing one, and nothing of its owner changes."""

from __future__ import annotations

import pytest

from tests.cart.support import make_product
from tests.conftest import new_client

MISSING_ADDRESS = 424242


@pytest.fixture
def owner_with_addresses(customer):
    """Customer A with a default and a second address."""
    client, _ = customer
    for name, default in (("Home", True), ("Work", False)):
        response = client.post(
            "/address/",
            json={
                "full_name": name,
                "address_line_1": "1 Main Street",
                "address_line_2": "",
                "city": "Leeds",
                "postcode": "LS1 1AA",
                "is_default": default,
            },
        )
        assert response.status_code == 201
    return client, [entry["id"] for entry in client.get("/address/").json]


@pytest.fixture(params=["customer", "guest"])
def intruder(request, app, accounts):
    """User B: another customer with an address of its own, or a guest."""
    if request.param == "customer":
        client, _ = accounts.logged_in_client(full_name="Bea Other")
    else:
        client = new_client(app)
        product = make_product(app)
        assert client.post(f"/cart/{product}", json={"quantity": 1}).status_code == 200
    response = client.post(
        "/address/",
        json={"full_name": "Bea", "address_line_1": "9 Side Road", "is_default": True},
    )
    assert response.status_code == 201
    return client


REQUESTS = [
    ("GET", None),
    ("PUT", {"city": "Elsewhere"}),
    ("PUT", {"is_default": True}),
    ("PUT", {"full_name": "Mallory", "address_line_1": "x", "postcode": "X1"}),
    ("DELETE", None),
]


@pytest.mark.parametrize("method, body", REQUESTS)
def test_someone_elses_address_is_answered_like_a_missing_one(
    owner_with_addresses, intruder, method, body
):
    owner, address_ids = owner_with_addresses
    before = owner.get("/address/").json
    intruder_before = intruder.get("/address/").json

    missing = intruder.open(f"/address/{MISSING_ADDRESS}", method=method, json=body)
    assert missing.status_code in (400, 403)
    for address_id in address_ids:
        foreign = intruder.open(f"/address/{address_id}", method=method, json=body)
        assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json)

    assert owner.get("/address/").json == before
    assert owner.get("/address/default").json == before[0]
    assert intruder.get("/address/").json == intruder_before


def test_a_customer_intruder_gets_not_found(owner_with_addresses, accounts):
    _, address_ids = owner_with_addresses
    client, _ = accounts.logged_in_client(full_name="Bea Other")
    for method, body in REQUESTS:
        response = client.open(f"/address/{address_ids[0]}", method=method, json=body)
        assert response.status_code == 400
        assert response.json == {"error": "Address not found", "code": "address_not_found"}


def test_the_default_endpoint_only_ever_shows_the_callers_address(owner_with_addresses, intruder):
    _, address_ids = owner_with_addresses
    assert intruder.get("/address/default").json["id"] not in address_ids
    assert not {entry["id"] for entry in intruder.get("/address/").json} & set(address_ids)
