"""Rate limits on login, signup and the emailing endpoints, per address and per account."""

import itertools

import pytest

from tests.conftest import PASSWORD, new_client

_addresses = itertools.count(1)


def client_from(app, address=None):
    client = new_client(app)
    client.environ_base["REMOTE_ADDR"] = address or f"10.77.{next(_addresses) % 250}.{next(_addresses) % 250}"
    return client


@pytest.fixture
def limited_app(make_app):
    return make_app(
        LOGIN_RATE_LIMIT="3 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="4 per minute",
        SIGNUP_RATE_LIMIT="2 per minute",
        EMAIL_REQUEST_RATE_LIMIT="2 per minute",
        EMAIL_ACCOUNT_RATE_LIMIT="3 per minute",
    )


def login(client, email, password="wrong password!"):
    return client.post("/user/login", json={"email": email, "password": password, "remember_me": False})


def test_login_is_limited_per_address(limited_app):
    client = client_from(limited_app)
    statuses = [login(client, f"x{i}@example.com").status_code for i in range(4)]
    assert statuses == [400, 400, 400, 429]
    limited = login(client, "x9@example.com")
    assert limited.get_json()["code"] == "rate_limited"
    assert limited.get_json()["error"]
    assert int(limited.headers["Retry-After"]) > 0
    # Another address is not affected.
    assert login(client_from(limited_app), "x0@example.com").status_code == 400


def test_login_brute_force_on_one_account_from_many_addresses_is_limited(limited_app, accounts):
    setup = new_client(limited_app)
    email = accounts.verified(setup)
    statuses = [login(client_from(limited_app), email).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    # Even the right password waits until the window passes.
    assert login(client_from(limited_app), email, PASSWORD).status_code == 429
    # The limit is keyed case-insensitively.
    assert login(client_from(limited_app), email.upper(), PASSWORD).status_code == 429


def test_signup_is_limited_per_address(limited_app):
    client = client_from(limited_app)
    bodies = [{"full_name": "A", "email": f"s{i}@example.com", "password": PASSWORD} for i in range(3)]
    statuses = [client.post("/user/signup", json=body).status_code for body in bodies]
    assert statuses == [201, 201, 429]


def test_reset_and_resend_are_limited_per_account(limited_app):
    statuses = [
        client_from(limited_app).post("/user/reset-password", json={"email": "victim@example.com"}).status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429
    assert statuses[:3] == [400, 400, 400]


def test_cors_headers_on_429(limited_app):
    client = client_from(limited_app)
    for _ in range(3):
        login(client, "c@example.com")
    response = client.post(
        "/user/login",
        json={"email": "c@example.com", "password": "x", "remember_me": False},
        headers={"Origin": "http://localhost:3000"},
    )
    assert response.status_code == 429
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
