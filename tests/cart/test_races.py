"""Races fought as races: many shoppers at once against a real HTTP server, then the books are
checked in the database. Reservations must never exceed the stock, and reserved_stock must
always equal what the cart lines hold."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from app.auth.models import Role, User
from app.cart.models import CartProduct
from app.extensions import db
from tests.cart.support import LiveServer, count_rows, make_product, stock_of

SHOPPERS = 60


@pytest.fixture
def server(app):
    with LiveServer(app) as live:
        yield live


def all_at_once(count: int, call):
    """Run call(i) for i in range(count) on `count` threads released together."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def lines_of(app, product_id) -> list[tuple[int, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(CartProduct.id, CartProduct.quantity).where(CartProduct.product_id == product_id)
        ).all()
        db.session.remove()
    return [(row.id, row.quantity) for row in rows]


def new_guest(server, product_id, quantity=1) -> dict:
    """A guest created over HTTP; returns its cookies to send with later requests."""
    response = requests.post(
        f"{server.url}/cart/{product_id}", json={"quantity": quantity}, timeout=30
    )
    assert response.status_code == 200, response.text
    cookies = {name: response.cookies.get(name) for name in ("access_token", "refresh_token")}
    assert all(cookies.values())
    return cookies


def test_sixty_shoppers_for_ten_units_reserve_exactly_ten(app, server):
    product = make_product(app, stock=10)

    def shop(_):
        response = requests.post(f"{server.url}/cart/{product}", json={"quantity": "1"}, timeout=60)
        return response.status_code, response.json()

    results = all_at_once(SHOPPERS, shop)
    successes = [body for status, body in results if status == 200]
    refusals = [body for status, body in results if status != 200]
    assert len(successes) == 10
    assert all(
        body == {"error": "Product is out of stock", "code": "out_of_stock"} for body in refusals
    )
    assert len(refusals) == SHOPPERS - 10
    assert stock_of(app, product) == (10, 10)
    assert sum(quantity for _, quantity in lines_of(app, product)) == 10
    # Refused shoppers did not become guests.
    assert count_rows(app, User, User.role == Role.GUEST) == 10


def test_shoppers_asking_for_two_units_each_get_exactly_five_lines(app, server, accounts):
    product = make_product(app, stock=10)

    def shop(_):
        response = requests.post(f"{server.url}/cart/{product}", json={"quantity": 2}, timeout=60)
        return response.status_code

    results = all_at_once(SHOPPERS, shop)
    assert results.count(200) == 5
    assert results.count(400) == SHOPPERS - 5
    assert stock_of(app, product) == (10, 10)
    assert sorted(quantity for _, quantity in lines_of(app, product)) == [2] * 5


def test_racing_quantity_changes_on_one_line_never_oversell(app, server):
    """The owner holds 1 of 10 and someone else 3, so the owner's line can be anything from 1
    to 7, whatever order the requests land in; 8 to 10 must always be refused."""
    product = make_product(app, stock=10)
    owner = new_guest(server, product, 1)
    new_guest(server, product, 3)
    [(line_id, _)] = [line for line in lines_of(app, product) if line[1] == 1]
    wanted = [1 + index % 10 for index in range(SHOPPERS)]

    def change(index):
        response = requests.put(
            f"{server.url}/cart/{line_id}",
            json={"quantity": wanted[index]},
            cookies=owner,
            timeout=60,
        )
        return wanted[index], response.status_code, response.json()

    results = all_at_once(SHOPPERS, change)
    for quantity, status, body in results:
        if quantity <= 7:
            assert status == 200, (quantity, body)
        else:
            assert (status, body) == (
                400,
                {"error": "Product is out of stock.", "code": "out_of_stock"},
            )
    final = dict(lines_of(app, product))[line_id]
    assert 1 <= final <= 7
    assert stock_of(app, product) == (10, 3 + final)


def test_one_shopper_racing_itself_keeps_one_line(app, server):
    """Double clicks: the same guest adds the same product many times at once (the quantity
    replaces), while removing and re-adding another one."""
    product = make_product(app, stock=10)
    other = make_product(app, name="Other", stock=10)
    shopper = new_guest(server, other, 1)

    def click(index):
        if index % 3 == 0:
            lines = requests.get(f"{server.url}/cart/", cookies=shopper, timeout=60).json()
            for line in lines:
                if line["product"]["id"] == other:
                    requests.delete(
                        f"{server.url}/cart/{line['cart_product']['id']}",
                        cookies=shopper,
                        timeout=60,
                    )
            response = requests.post(
                f"{server.url}/cart/{other}", json={"quantity": 2}, cookies=shopper, timeout=60
            )
        else:
            response = requests.post(
                f"{server.url}/cart/{product}",
                json={"quantity": 1 + index % 4},
                cookies=shopper,
                timeout=60,
            )
        return response.status_code

    results = all_at_once(SHOPPERS, click)
    # Nothing failed with a server error; adds of a line that is being deleted may land either way.
    assert all(status == 200 for status in results)
    [(_, quantity)] = lines_of(app, product)
    assert 1 <= quantity <= 4
    assert stock_of(app, product) == (10, quantity)
    assert len(lines_of(app, other)) == 1
    assert count_rows(app, User, User.role == Role.GUEST) == 1


def test_many_carts_raising_and_lowering_at_once_keep_the_books(app, server):
    product = make_product(app, stock=10)
    shoppers = [new_guest(server, product, 1) for _ in range(5)]
    line_ids = {}
    for cookies in shoppers:
        [line] = requests.get(f"{server.url}/cart/", cookies=cookies, timeout=30).json()
        line_ids[cookies["access_token"]] = line["cart_product"]["id"]

    def change(index):
        cookies = shoppers[index % 5]
        quantity = 1 + (index * 7) % 5
        response = requests.put(
            f"{server.url}/cart/{line_ids[cookies['access_token']]}",
            json={"quantity": quantity},
            cookies=cookies,
            timeout=60,
        )
        return response.status_code, response.json()

    results = all_at_once(SHOPPERS, change)
    for status, body in results:
        assert status == 200 or body["error"] == "Product is out of stock."
    held = sum(quantity for _, quantity in lines_of(app, product))
    assert held <= 10
    assert stock_of(app, product) == (10, held)
