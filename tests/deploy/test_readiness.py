"""/readyz follows PostgreSQL and Redis: 503 while either is unreachable, 200 again once it
is back, in the same running application."""

from __future__ import annotations

import os

import pytest

from tests.conftest import new_client
from tests.deploy.support import ThrowawayPostgres, ThrowawayRedis


@pytest.fixture
def redis_server():
    server = ThrowawayRedis().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_server():
    server = ThrowawayPostgres().start()
    yield server
    server.remove()


def _ready(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, response.get_json()


def test_readyz_is_503_while_redis_is_down_and_200_once_it_is_back(
    make_app, redis_server, restore_celery
):
    # Rate limits stay on the suite's Redis: the limiter is shared by every app in this process.
    app = make_app(REDIS_URL=redis_server.url, RATELIMIT_STORAGE_URI=os.environ["REDIS_URL"])
    client = new_client(app)
    assert _ready(client)[0] == 200

    redis_server.stop()
    status, body = _ready(client)
    assert status == 503
    assert body["checks"] == {"database": True, "redis": False}
    assert body["code"] == "service_unavailable"
    assert client.get("/healthz").status_code == 200

    redis_server.start()
    assert _ready(client) == (200, {"status": "ready", "checks": {"database": True, "redis": True}})


def test_readyz_is_503_while_postgresql_is_down_and_200_once_it_is_back(
    make_app, postgres_server, restore_celery
):
    app = make_app(SQLALCHEMY_DATABASE_URI=postgres_server.url)
    client = new_client(app)
    # Twice: the second check reuses the pooled connection that the outage will break.
    assert _ready(client)[0] == 200
    assert _ready(client)[0] == 200

    postgres_server.stop()
    status, body = _ready(client)
    assert status == 503
    assert body["checks"] == {"database": False, "redis": True}
    assert client.get("/healthz").status_code == 200

    postgres_server.start()
    assert _ready(client) == (200, {"status": "ready", "checks": {"database": True, "redis": True}})
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
