"""Bad input on every account endpoint is a 400 in the error format, never a 500, and
changes nothing."""

import pytest
from sqlalchemy import func, select

from app.auth.models import User

HUGE = "x" * 100_000

JSON_ENDPOINTS = [
    ("post", "/user/signup", {"full_name": "A", "email": "a@example.com", "password": "password123"}),
    ("post", "/user/login", {"email": "a@example.com", "password": "password123", "remember_me": False}),
    ("post", "/user/resend-verification", {"email": "a@example.com"}),
    ("post", "/user/reset-password", {"email": "a@example.com"}),
    ("put", "/user/reset-password/sometoken", {"new_password": "password123"}),
]

AUTHED_JSON_ENDPOINTS = [
    ("put", "/user/edit-name", {"full_name": "A"}),
    ("put", "/user/edit-password", {"current_password": "password123", "new_password": "password123"}),
]


def variants(valid: dict):
    """Every way a client can get a body wrong."""
    first = next(iter(valid))
    yield "missing field", {k: v for k, v in valid.items() if k != first}
    yield "extra field", {**valid, "is_admin": True}
    yield "null", {**valid, first: None}
    yield "number for string", {**valid, first: 12345}
    yield "list", {**valid, first: ["a"]}
    yield "object", {**valid, first: {"a": 1}}
    yield "huge string", {**valid, first: HUGE}


def raw_variants():
    yield "empty body", b"", "application/json"
    yield "not json", b"{'email': 1", "application/json"
    yield "json array", b"[1, 2]", "application/json"
    yield "json string", b'"hello"', "application/json"
    yield "empty object", b"{}", "application/json"
    yield "invalid utf-8", b'{"email": "\xff\xfe"}', "application/json"
    yield "form encoded", b"email=a", "application/x-www-form-urlencoded"
    yield "deeply nested", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"


def assert_clean_400(response):
    assert response.status_code in (400, 413), response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"]


@pytest.mark.parametrize(("method", "path", "valid"), JSON_ENDPOINTS)
def test_public_json_endpoints_reject_bad_bodies(client, db_session, method, path, valid):
    before = db_session.scalar(select(func.count()).select_from(User))
    for _label, body in variants(valid):
        assert_clean_400(getattr(client, method)(path, json=body))
    for _label, raw, content_type in raw_variants():
        assert_clean_400(getattr(client, method)(path, data=raw, content_type=content_type))
    assert db_session.scalar(select(func.count()).select_from(User)) == before


@pytest.mark.parametrize(("method", "path", "valid"), AUTHED_JSON_ENDPOINTS)
def test_account_json_endpoints_reject_bad_bodies(customer, method, path, valid):
    client, _ = customer
    for _label, body in variants(valid):
        assert_clean_400(getattr(client, method)(path, json=body))
    for _label, raw, content_type in raw_variants():
        assert_clean_400(getattr(client, method)(path, data=raw, content_type=content_type))
    assert client.get("/user/").get_json() == {"full_name": "Casey Customer"}


def test_empty_body_says_no_data_provided(client):
    response = client.post("/user/signup", data=b"", content_type="application/json")
    assert response.get_json() == {"error": "No data provided", "code": "no_data"}


def test_validation_errors_name_each_field(client):
    response = client.post("/user/signup", json={"email": "not-an-email", "password": "short"})
    body = response.get_json()
    assert response.status_code == 400
    assert set(body["fields"]) == {"email", "password", "full_name"}
    assert body["code"] == "validation_error"


def test_signup_role_other_than_first_admin_is_refused(client, admin_client):
    response = client.post(
        "/user/signup",
        json={"full_name": "A", "email": "a@example.com", "password": "password123", "role": "admin"},
    )
    assert response.get_json()["error"] == "Invalid role"
    response = client.post(
        "/user/signup",
        json={"full_name": "A", "email": "a@example.com", "password": "password123", "role": "superuser"},
    )
    assert response.get_json()["error"] == "Invalid role"


def test_strings_that_look_like_attacks_are_just_data(client, accounts, admin_client, db_session):
    name = "Robert'); DROP TABLE users;-- <script>alert(1)</script>"
    email = accounts.signup(client, full_name=name)
    assert db_session.scalars(select(User.full_name).where(User.email == email)).one() == name


def test_very_long_path_token_is_a_clean_400(client):
    response = client.post("/user/verify-email/" + "a" * 5000)
    assert response.status_code == 400
