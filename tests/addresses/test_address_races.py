"""Address writes racing each other over real HTTP: the limit of five and the single default
hold whatever the interleaving."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select

from app.addresses.models import Address
from app.extensions import db
from tests.cart.support import LiveServer

ATTEMPTS = 12


def at_once(count, call):
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_creations_stop_at_five_with_one_default(app, customer):
    client, _ = customer
    cookies = {"access_token": client.get_cookie("access_token").value}
    with LiveServer(app) as server:

        def create(index):
            response = requests.post(
                f"{server.url}/address/",
                json={
                    "full_name": f"Person {index}",
                    "address_line_1": "1 Main Street",
                    "is_default": index % 2 == 0,
                },
                cookies=cookies,
                timeout=60,
            )
            return response.status_code, response.json()

        results = at_once(ATTEMPTS, create)

        created = [body for status, body in results if status == 201]
        refused = [body for status, body in results if status != 201]
        assert len(created) == 5
        assert len(refused) == ATTEMPTS - 5
        assert {body["error"] for body in refused} == {
            "You have reached the maximum number of addresses"
        }

        # Everyone switching the default at once still leaves exactly one.
        def make_default(index):
            target = created[index % len(created)]["id"]
            return requests.put(
                f"{server.url}/address/{target}",
                json={"is_default": True},
                cookies=cookies,
                timeout=60,
            ).status_code

        assert set(at_once(ATTEMPTS, make_default)) == {200}

    with app.app_context():
        rows = db.session.execute(select(Address.id, Address.is_default)).all()
        db.session.remove()
    assert len(rows) == 5
    assert sum(1 for row in rows if row.is_default) == 1
