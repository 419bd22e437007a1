"""Pages kept in one process's memory follow writes made through any other process at once,
and a process that may have missed a change stops serving what it kept."""

import time

import pytest
import redis

from app.core import invalidation
from app.core.invalidation import HEARTBEAT_SECONDS
from tests.catalog.support import counting_statements
from tests.conftest import new_client
from tests.support.delivery import seen_soon


@pytest.fixture
def kitchen(shop):
    return shop.category("Kitchen")


@pytest.fixture
def other_process(make_app):
    """A second instance of the shop with its own memory and its own channel subscription,
    as a second gunicorn worker would have."""
    app = make_app()
    return app, new_client(app)


def kept_product_page(shop, kitchen, app, reader) -> int:
    """A product whose page `reader`'s process now keeps."""
    mug = shop.product("Mug", category_id=kitchen, stock=5)
    reader.get(f"/product/{mug}")
    assert kept(app, reader, f"/product/{mug}")
    return mug


def names(client):
    return [p["name"] for p in client.get("/product/?page=1").json["products"]]


def kept(app, client, path) -> bool:
    with counting_statements(app) as counter:
        client.get(path)
    return counter.count == 0


def test_a_write_in_one_process_is_seen_at_once_by_another(
    shop, kitchen, other_process, admin_client
):
    app, reader = other_process
    mug = shop.product("Mug", category_id=kitchen, price="4.00")
    assert names(reader) == ["Mug"]
    assert kept(app, reader, "/product/?page=1")
    assert reader.get(f"/product/{mug}").json["price"] == 4.0
    assert kept(app, reader, f"/product/{mug}")

    # through the first process
    assert admin_client.put(f"/product/admin/{mug}", json={"price": "5.00"}).status_code == 200

    seen_soon(lambda: reader.get(f"/product/{mug}").json["price"], 5.0, app=app)
    shop.product("Bowl", category_id=kitchen)
    seen_soon(lambda: names(reader), ["Bowl", "Mug"], app=app)


def test_a_reservation_made_by_another_process_shows_on_the_kept_page(
    shop, kitchen, other_process, client
):
    app, reader = other_process
    mug = kept_product_page(shop, kitchen, app, reader)
    assert client.post(f"/cart/{mug}", json={"quantity": 3}).status_code == 200
    seen_soon(lambda: reader.get(f"/product/{mug}").json["reserved_stock"], 3, app=app)


def test_a_broken_subscription_falls_back_to_fresh_reads(shop, kitchen, other_process, client):
    app, reader = other_process
    mug = shop.product("Mug", category_id=kitchen, stock=5)
    reader.get(f"/product/{mug}")
    channel = invalidation.bus(app)
    # Redis drops the subscriber's connection (a restart, a network fault): this process's
    # only, so that nothing else using the same Redis server is disturbed.
    host, port = channel.pubsub.connection._sock.getsockname()[:2]
    admin = redis.Redis.from_url(app.config["CACHE_REDIS_URL"])
    assert admin.client_kill_filter(_type="pubsub", addr=f"{host}:{port}") == 1
    assert client.post(f"/cart/{mug}", json={"quantity": 2}).status_code == 200
    # The change was announced while the reader was cut off; it must still see it.
    assert reader.get(f"/product/{mug}").json["reserved_stock"] == 2
    assert channel.pubsub is None  # out of touch, reading the database meanwhile
    assert not kept(app, reader, f"/product/{mug}")


def test_a_subscription_that_silently_stops_delivering_is_noticed(
    shop, kitchen, other_process, client
):
    app, reader = other_process
    mug = shop.product("Mug", category_id=kitchen, stock=5)
    reader.get(f"/product/{mug}")
    channel = invalidation.bus(app)
    # The connection stays up but nothing reaches it any more.
    channel.pubsub.unsubscribe()
    assert client.post(f"/cart/{mug}", json={"quantity": 1}).status_code == 200
    deadline = time.monotonic() + 2 * HEARTBEAT_SECONDS + 1
    while reader.get(f"/product/{mug}").json["reserved_stock"] != 1:
        assert time.monotonic() < deadline, "a process deaf to the channel kept serving"
        time.sleep(0.05)


@pytest.mark.filterwarnings("ignore:Flask-Caching")
def test_without_redis_nothing_is_kept(make_app, shop, kitchen):
    app = make_app(CACHE_TYPE="NullCache")
    reader = new_client(app)
    mug = shop.product("Mug", category_id=kitchen)
    reader.get(f"/product/{mug}")
    assert invalidation.bus(app) is None
    assert not kept(app, reader, f"/product/{mug}")


def test_an_unreadable_message_on_the_channel_drops_what_was_kept(shop, kitchen, other_process):
    app, reader = other_process
    mug = shop.product("Mug", category_id=kitchen)
    reader.get(f"/product/{mug}")
    assert kept(app, reader, f"/product/{mug}")
    channel = invalidation.bus(app)
    publisher = redis.Redis.from_url(app.config["CACHE_REDIS_URL"])
    publisher.publish(channel.channel, b"v catalog not-a-number")
    publisher.publish(channel.channel, b"\xff\xfe")
    with counting_statements(app) as counter:
        response = reader.get(f"/product/{mug}")
    assert response.status_code == 200 and response.json["name"] == "Mug"
    assert counter.count > 0  # read again, not served from what was kept


def test_after_a_quiet_spell_nothing_kept_is_served_before_the_channel_proves_alive(
    shop, kitchen, other_process, client
):
    app, reader = other_process
    mug = kept_product_page(shop, kitchen, app, reader)
    time.sleep(2 * HEARTBEAT_SECONDS + 0.3)  # nobody asks this process anything meanwhile
    invalidation.bus(app).pubsub.unsubscribe()  # and its subscription died without a sound
    assert client.post(f"/cart/{mug}", json={"quantity": 2}).status_code == 200
    assert reader.get(f"/product/{mug}").json["reserved_stock"] == 2
