"""The address book (contract §2.2, rules §3.5): create, list, default, get, edit, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.addresses.models import Address
from app.extensions import db
from tests.cart.support import make_product

HOME = {
    "full_name": "Casey Customer",
    "address_line_1": "1 High Street",
    "address_line_2": "Flat 2",
    "city": "Leeds",
    "postcode": "LS1 1AA",
    "is_default": False,
}


def address(**changes):
    return {**HOME, **changes}


def create(client, **changes):
    response = client.post("/address/", json=address(**changes))
    assert response.status_code == 201, response.json
    return response.json


def listed(client):
    response = client.get("/address/")
    assert response.status_code == 200, response.json
    return response.json


def default_of(client):
    return client.get("/address/default")


def stored(app) -> list[Address]:
    with app.app_context():
        rows = db.session.scalars(select(Address).order_by(Address.id)).all()
        db.session.expunge_all()
        db.session.remove()
    return rows


@pytest.fixture
def guest(app, client):
    """A guest: a signed-out shopper who put something in the basket."""
    product = make_product(app)
    assert client.post(f"/cart/{product}", json={"quantity": 1}).status_code == 200
    return client


# --- POST /address/ ----------------------------------------------------------------------------


def test_first_address_becomes_default_even_when_not_asked(customer):
    client, _ = customer
    body = create(client)
    assert body == {
        "id": body["id"],
        "full_name": "Casey Customer",
        "address_line_1": "1 High Street",
        "address_line_2": "Flat 2",
        "city": "Leeds",
        "postcode": "LS1 1AA",
        "is_default": True,
    }
    assert default_of(client).json == body


def test_a_new_default_unsets_the_previous_one(customer):
    client, _ = customer
    first = create(client)
    second = create(client, full_name="Second", is_default=False)
    assert default_of(client).json["id"] == first["id"]
    third = create(client, full_name="Third", is_default=True)
    assert default_of(client).json["id"] == third["id"]
    flags = {entry["id"]: entry["is_default"] for entry in listed(client)}
    assert flags == {first["id"]: False, second["id"]: False, third["id"]: True}


def test_at_most_five_addresses(app, customer):
    client, _ = customer
    for number in range(5):
        create(client, full_name=f"Person {number}")
    response = client.post("/address/", json=address(full_name="Sixth"))
    assert response.status_code == 400
    assert response.json == {
        "error": "You have reached the maximum number of addresses",
        "code": "address_limit_reached",
    }
    assert len(stored(app)) == 5


def test_optional_fields_may_be_empty_or_absent(customer):
    client, _ = customer
    body = create(client, address_line_2="", city="", postcode="")
    assert (body["address_line_2"], body["city"], body["postcode"]) == ("", "", "")
    response = client.post(
        "/address/", json={"full_name": "Min", "address_line_1": "2 Low Road", "is_default": False}
    )
    assert response.status_code == 201
    assert response.json["address_line_2"] is None
    assert response.json["city"] == "" and response.json["postcode"] == ""
    assert client.post("/address/", json=address(address_line_2=None)).status_code == 201


def test_surrounding_spaces_are_trimmed(customer):
    client, _ = customer
    body = create(client, full_name="  Casey  ", postcode=" LS1 1AA ")
    assert body["full_name"] == "Casey"
    assert body["postcode"] == "LS1 1AA"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"full_name": ""}, "Full name must be 1 to 100 characters long"),
        ({"full_name": "   "}, "Full name must be 1 to 100 characters long"),
        ({"full_name": "x" * 101}, "Full name must be 1 to 100 characters long"),
        ({"full_name": None}, "Full name is required"),
        ({"address_line_1": ""}, "Address line 1 must be 1 to 100 characters long"),
        ({"address_line_2": "x" * 101}, "Address line 2 must be at most 100 characters long"),
        ({"city": "x" * 101}, "City must be at most 100 characters long"),
        ({"postcode": "x" * 21}, "Postcode must be at most 20 characters long"),
        ({"postcode": 12345}, "Postcode must be text"),
        ({"is_default": "perhaps"}, "is_default: Not a valid boolean."),
        ({"id": 7}, "id: Unknown field."),
        ({"user_id": 1}, "user_id: Unknown field."),
    ],
)
def test_invalid_fields_are_refused(app, customer, changes, message):
    client, _ = customer
    response = client.post("/address/", json=address(**changes))
    assert response.status_code == 400
    assert response.json["error"] == message
    assert stored(app) == []


def test_required_fields_must_be_present(app, customer):
    client, _ = customer
    response = client.post("/address/", json={"city": "Leeds"})
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"full_name", "address_line_1"}
    assert client.post("/address/", json={}).json["error"] == "No data provided"
    assert client.post("/address/").json["error"] == "No data provided"
    assert stored(app) == []


def test_longest_allowed_values_are_kept(customer):
    client, _ = customer
    body = create(
        client,
        full_name="f" * 100,
        address_line_1="a" * 100,
        address_line_2="b" * 100,
        city="c" * 100,
        postcode="p" * 20,
    )
    assert len(body["full_name"]) == 100 and len(body["postcode"]) == 20


def test_creating_needs_a_token(app, client):
    response = client.post("/address/", json=HOME)
    assert response.status_code == 401
    assert stored(app) == []


# --- guests ------------------------------------------------------------------------------------


def test_a_guest_keeps_one_address_which_each_new_one_replaces(app, guest):
    first = create(guest, is_default=False)
    assert default_of(guest).json == first
    second = create(guest, full_name="Someone Else", is_default=False)
    assert default_of(guest).json == second
    assert second["is_default"] is True
    assert listed(guest) == [second]
    assert [row.id for row in stored(app)] == [second["id"]]


def test_a_guest_cannot_edit_or_delete_addresses(app, guest):
    created = create(guest)
    edit = guest.put(f"/address/{created['id']}", json={"city": "York"})
    assert edit.status_code == 403
    assert edit.json["error"] == "Unauthorized access"
    delete = guest.delete(f"/address/{created['id']}")
    assert delete.status_code == 403
    assert [row.city for row in stored(app)] == ["Leeds"]


def test_a_guest_reads_its_address(guest):
    created = create(guest)
    assert guest.get(f"/address/{created['id']}").json == created


# --- GET /address/, /address/default, /address/<id> --------------------------------------------


def test_list_is_empty_without_addresses(customer):
    client, _ = customer
    assert listed(client) == []


def test_list_puts_the_default_first_then_oldest_first(customer):
    client, _ = customer
    first = create(client, full_name="First")
    second = create(client, full_name="Second")
    third = create(client, full_name="Third", is_default=True)
    assert [entry["id"] for entry in listed(client)] == [third["id"], first["id"], second["id"]]


def test_default_address_not_found_is_exact(customer):
    client, _ = customer
    response = default_of(client)
    assert response.status_code == 400
    assert response.json["error"] == "Default address not found"


def test_reading_needs_a_token(client):
    for path in ("/address/", "/address/default", "/address/1"):
        assert client.get(path).status_code == 401


def test_get_one_address(customer):
    client, _ = customer
    created = create(client)
    response = client.get(f"/address/{created['id']}")
    assert response.status_code == 200
    assert response.json == created


def test_get_an_unknown_address(customer):
    client, _ = customer
    for address_id in (999, 2**40):
        response = client.get(f"/address/{address_id}")
        assert response.status_code == 400
        assert response.json == {"error": "Address not found", "code": "address_not_found"}


# --- PUT /address/<id> -------------------------------------------------------------------------


def test_edit_changes_only_the_fields_sent(app, customer):
    client, _ = customer
    created = create(client)
    response = client.put(
        f"/address/{created['id']}", json={"city": "York", "address_line_2": None}
    )
    assert response.status_code == 200
    assert response.json == {"message": "Address updated successfully"}
    after = client.get(f"/address/{created['id']}").json
    assert after == {**created, "city": "York", "address_line_2": None}


def test_set_as_default(customer):
    client, _ = customer
    first = create(client)
    second = create(client, full_name="Second")
    assert client.put(f"/address/{second['id']}", json={"is_default": True}).status_code == 200
    assert default_of(client).json["id"] == second["id"]
    assert client.get(f"/address/{first['id']}").json["is_default"] is False
    # Setting it again changes nothing.
    assert client.put(f"/address/{second['id']}", json={"is_default": True}).status_code == 200
    assert default_of(client).json["id"] == second["id"]


def test_the_default_cannot_be_switched_off_leaving_none(customer):
    client, _ = customer
    created = create(client)
    response = client.put(f"/address/{created['id']}", json={"is_default": False})
    assert response.status_code == 400
    assert response.json["code"] == "default_address_required"
    assert default_of(client).json["id"] == created["id"]


def test_is_default_false_on_another_address_changes_nothing(customer):
    client, _ = customer
    first = create(client)
    second = create(client, full_name="Second")
    assert client.put(f"/address/{second['id']}", json={"is_default": False}).status_code == 200
    assert default_of(client).json["id"] == first["id"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "No data provided"),
        ({"id": 99}, "id: Unknown field."),
        ({"user_id": 1, "city": "York"}, "user_id: Unknown field."),
        ({"colour": "red"}, "colour: Unknown field."),
        ({"full_name": ""}, "Full name must be 1 to 100 characters long"),
        ({"address_line_1": "  "}, "Address line 1 must be 1 to 100 characters long"),
        ({"postcode": "p" * 21}, "Postcode must be at most 20 characters long"),
    ],
)
def test_edit_refuses_bad_bodies_and_changes_nothing(app, customer, body, message):
    client, _ = customer
    created = create(client)
    response = client.put(f"/address/{created['id']}", json=body)
    assert response.status_code == 400
    assert response.json["error"] == message
    assert client.get(f"/address/{created['id']}").json == created
    assert [row.id for row in stored(app)] == [created["id"]]


def test_edit_without_a_body(customer):
    client, _ = customer
    created = create(client)
    response = client.put(f"/address/{created['id']}")
    assert response.status_code == 400
    assert response.json["error"] == "No data provided"


def test_edit_an_unknown_address(customer):
    client, _ = customer
    response = client.put("/address/31337", json={"city": "York"})
    assert response.status_code == 400
    assert response.json["error"] == "Address not found"


def test_edit_needs_a_token(client):
    assert client.put("/address/1", json={"city": "York"}).status_code == 401


# --- DELETE /address/<id> ----------------------------------------------------------------------


def test_delete_an_address(app, customer):
    client, _ = customer
    first = create(client)
    second = create(client, full_name="Second")
    response = client.delete(f"/address/{second['id']}")
    assert response.status_code == 200
    assert response.json == {"message": "Address deleted successfully"}
    assert [entry["id"] for entry in listed(client)] == [first["id"]]
    assert default_of(client).json["id"] == first["id"]


def test_deleting_the_default_promotes_another(customer):
    client, _ = customer
    first = create(client)
    second = create(client, full_name="Second")
    third = create(client, full_name="Third")
    assert client.delete(f"/address/{first['id']}").status_code == 200
    assert default_of(client).json["id"] == second["id"]
    assert [entry["id"] for entry in listed(client)] == [second["id"], third["id"]]


def test_deleting_the_last_address_leaves_no_default(customer):
    client, _ = customer
    only = create(client)
    assert client.delete(f"/address/{only['id']}").status_code == 200
    assert default_of(client).json["error"] == "Default address not found"
    assert listed(client) == []
    # And the next one becomes the default again.
    assert create(client)["is_default"] is True


def test_delete_an_unknown_address(customer):
    client, _ = customer
    response = client.delete("/address/555")
    assert response.status_code == 400
    assert response.json["error"] == "Address not found"


def test_delete_needs_a_token(client):
    assert client.delete("/address/1").status_code == 401
