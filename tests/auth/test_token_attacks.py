"""Every token problem is 401 `Missing or invalid token` (contract §1.5, flaws 18–19)."""

import base64
import json
from datetime import timedelta

import jwt
import pytest

from tests.conftest import new_client

PROTECTED = (("get", "/user/authenticate"), ("get", "/user/"), ("put", "/user/edit-name"))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def signed_in(client, accounts, admin_client):
    email = accounts.verified(client)
    accounts.login(client, email)
    token = client.get_cookie("access_token").value
    claims = jwt.decode(token, options={"verify_signature": False})
    return client, token, claims


def assert_refused(app, cookie_value, cookie="access_token"):
    attacker = new_client(app)
    attacker.set_cookie(cookie, cookie_value, domain="localhost")
    for method, path in PROTECTED:
        kwargs = {"json": {"full_name": "Hacked"}} if method == "put" else {}
        response = getattr(attacker, method)(path, **kwargs)
        assert response.status_code == 401, (path, response.get_json())
        assert response.get_json()["error"] == "Missing or invalid token"


def test_alg_none_token_is_refused(app, signed_in):
    _, _, claims = signed_in
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_refused(app, forged)


def test_token_signed_with_another_secret_is_refused(app, signed_in):
    _, _, claims = signed_in
    assert_refused(app, jwt.encode(claims, "another-secret-key-0123456789abcdef", algorithm="HS256"))


def test_edited_claims_break_the_signature(app, signed_in):
    _, token, claims = signed_in
    header, _, signature = token.split(".")
    edited = {**claims, "sub": "1"}
    assert_refused(app, f"{header}.{b64(edited)}.{signature}")


def test_malformed_and_empty_tokens_are_refused(app):
    for value in ("garbage", "a.b.c", "", "ey" * 1500):
        assert_refused(app, value)


def test_expired_token_is_refused(app, signed_in):
    _, _, claims = signed_in
    secret = app.config["JWT_SECRET_KEY"]
    expired = {**claims, "exp": claims["iat"] - 10}
    assert_refused(app, jwt.encode(expired, secret, algorithm="HS256"))


def test_refresh_token_is_not_an_access_token(app, signed_in):
    client, _, _ = signed_in
    assert_refused(app, client.get_cookie("refresh_token").value)


def test_access_token_is_not_a_refresh_token(app, signed_in):
    client, token, _ = signed_in
    attacker = new_client(app)
    attacker.set_cookie("refresh_token", token, domain="localhost")
    assert attacker.post("/user/refresh").status_code == 401


def test_token_of_a_deleted_user_is_401_not_500(app, signed_in):
    client, token, _ = signed_in
    assert client.delete("/user/delete-account").status_code == 200
    assert_refused(app, token)


def test_token_with_a_forged_session_id_is_refused(app, signed_in):
    _, _, claims = signed_in
    secret = app.config["JWT_SECRET_KEY"]
    forged = {**claims, "sid": "00000000-0000-0000-0000-000000000000", "exp": claims["exp"] + 60}
    assert_refused(app, jwt.encode(forged, secret, algorithm="HS256"))


def test_token_without_session_is_refused(app, signed_in):
    _, _, claims = signed_in
    secret = app.config["JWT_SECRET_KEY"]
    bare = {k: v for k, v in claims.items() if k != "sid"}
    bare["exp"] = claims["exp"] + int(timedelta(minutes=1).total_seconds())
    assert_refused(app, jwt.encode(bare, secret, algorithm="HS256"))
