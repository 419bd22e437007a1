"""Login, authenticate, refresh and logout (contract §1.4, §1.5, §2.1.2–§2.1.5)."""

import time

import jwt
from sqlalchemy import select

from app.auth.models import AuthSession
from tests.conftest import PASSWORD, new_client


def cookie_headers(response, name):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


def test_login_sets_httponly_session_cookies_without_remember_me(client, accounts, admin_client):
    email = accounts.verified(client)
    response = accounts.login(client, email)
    assert response.get_json() == {"message": "Login successful"}
    for name in ("access_token", "refresh_token"):
        [header] = cookie_headers(response, name)
        assert "HttpOnly" in header and "Path=/" in header and "Secure" in header
        assert "SameSite=Lax" in header
        assert "Max-Age" not in header and "Expires" not in header
        assert "Domain" not in header


def test_remember_me_cookies_survive_browser_restart_and_access_lives_as_long(client, accounts, admin_client):
    email = accounts.verified(client)
    response = accounts.login(client, email, remember_me=True)
    [access] = cookie_headers(response, "access_token")
    [refresh] = cookie_headers(response, "refresh_token")
    access_age = int(access.split("Max-Age=")[1].split(";")[0])
    refresh_age = int(refresh.split("Max-Age=")[1].split(";")[0])
    assert 29 * 86400 < refresh_age <= 30 * 86400
    assert access_age >= refresh_age


def test_authenticate_reports_roles(client, accounts, admin_client):
    assert admin_client.get("/user/authenticate").get_json() == {
        "logged_in": True, "is_admin": True, "is_customer": False,
    }
    email = accounts.verified(client)
    accounts.login(client, email)
    assert client.get("/user/authenticate").get_json() == {
        "logged_in": True, "is_admin": False, "is_customer": True,
    }


def test_anonymous_gets_401_on_authenticate_and_refresh_but_200_on_logout(client):
    for method, path in (("get", "/user/authenticate"), ("post", "/user/refresh")):
        response = getattr(client, method)(path)
        assert response.status_code == 401
        assert response.get_json()["error"] == "Missing or invalid token"
    response = client.post("/user/logout")
    assert response.status_code == 200
    assert response.get_json() == {"message": "Logout successful"}


def test_wrong_password_and_unknown_email_get_the_same_answer(client, accounts, admin_client):
    email = accounts.verified(client)
    wrong = client.post("/user/login", json={"email": email, "password": "nope-nope-nope", "remember_me": False})
    unknown = client.post("/user/login", json={"email": "ghost@example.com", "password": PASSWORD, "remember_me": False})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.get_json() == unknown.get_json() == {"error": "Invalid email or password", "code": "invalid_credentials"}
    assert not cookie_headers(wrong, "access_token")


def test_unverified_account_gets_exact_email_not_verified(client, accounts, admin_client):
    email = accounts.signup(client)
    response = client.post("/user/login", json={"email": email, "password": PASSWORD, "remember_me": False})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Email not verified"


def test_login_email_is_case_insensitive(client, accounts, admin_client):
    email = accounts.verified(client)
    accounts.login(client, email.upper())


def test_refresh_flow_after_access_token_expiry(make_app, accounts, admin_client):
    from datetime import timedelta

    # The exp claim is whole seconds, so a one-second token can expire almost at once;
    # three seconds leave room for the first read, and the test waits for the claim itself.
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=3))
    client = new_client(app)
    email = accounts.verified(client)
    accounts.login(client, email)
    assert client.get("/user/").status_code == 200
    access = jwt.decode(client.get_cookie("access_token").value, options={"verify_signature": False})
    time.sleep(max(0.0, access["exp"] - time.time()) + 0.2)
    expired = client.get("/user/")
    assert expired.status_code == 401
    assert expired.get_json()["error"] == "Missing or invalid token"
    refreshed = client.post("/user/refresh")
    assert refreshed.status_code == 200
    assert cookie_headers(refreshed, "access_token")
    assert client.get("/user/").status_code == 200


def test_logout_clears_cookies_and_revokes_both_tokens(client, accounts, admin_client, db_session):
    email = accounts.verified(client)
    accounts.login(client, email)
    stolen = {c.key: c.value for c in client._cookies.values()}
    response = client.post("/user/logout")
    for name in ("access_token", "refresh_token"):
        [header] = cookie_headers(response, name)
        assert header.startswith(f"{name}=;") and "Expires=Thu, 01 Jan 1970" in header
    assert db_session.scalars(select(AuthSession)).all()[-1].revoked_reason == "logout"
    replay = new_client(client.application)
    for name, value in stolen.items():
        replay.set_cookie(name, value, domain="localhost")
    assert replay.get("/user/authenticate").status_code == 401
    assert replay.post("/user/refresh").status_code == 401


def test_refresh_rotates_and_reuse_of_an_old_refresh_token_revokes_the_login(client, accounts, admin_client, db_session):
    email = accounts.verified(client)
    accounts.login(client, email)
    old_refresh = client.get_cookie("refresh_token").value
    assert client.post("/user/refresh").status_code == 200
    new_refresh = client.get_cookie("refresh_token").value
    assert new_refresh != old_refresh
    session = db_session.scalars(select(AuthSession)).all()[-1]
    # Outside the grace period for concurrent tabs, the old token is a replay.
    session.refreshed_at = session.refreshed_at - __import__("datetime").timedelta(minutes=5)
    db_session.commit()
    attacker = new_client(client.application)
    attacker.set_cookie("refresh_token", old_refresh, domain="localhost")
    assert attacker.post("/user/refresh").status_code == 401
    # The whole login is now revoked: the legitimate holder must sign in again.
    assert client.post("/user/refresh").status_code == 401
    assert client.get("/user/authenticate").status_code == 401


def test_two_tabs_refreshing_at_once_both_stay_signed_in(client, accounts, admin_client):
    email = accounts.verified(client)
    accounts.login(client, email)
    old_refresh = client.get_cookie("refresh_token").value
    assert client.post("/user/refresh").status_code == 200
    other_tab = new_client(client.application)
    other_tab.set_cookie("refresh_token", old_refresh, domain="localhost")
    assert other_tab.post("/user/refresh").status_code == 200
    assert client.get("/user/authenticate").status_code == 200
    assert client.post("/user/refresh").status_code == 200


def test_concurrent_refreshes_with_one_cookie_keep_the_login(app, accounts, admin_client):
    """The storefront and a second tab can refresh at the same moment: whichever answer the
    browser keeps must go on working after the grace period."""
    import threading
    from datetime import timedelta

    from app.auth.models import AuthSession
    from app.extensions import db

    client = new_client(app)
    email = accounts.verified(client)
    accounts.login(client, email)
    cookie = client.get_cookie("refresh_token").value
    for _round in range(5):
        barrier = threading.Barrier(4)
        kept = []

        def refresh(cookie=cookie, barrier=barrier, kept=kept):
            tab = new_client(app)
            tab.set_cookie("refresh_token", cookie, domain="localhost")
            barrier.wait()
            response = tab.post("/user/refresh")
            kept.append((response.status_code, tab.get_cookie("refresh_token").value))

        threads = [threading.Thread(target=refresh) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in kept] == [200] * 4
        assert len({token for _, token in kept}) == 1, "every tab must hold the same refresh token"
        cookie = kept[-1][1]
        # Long after the race, the kept token still refreshes.
        with app.app_context():
            for session in db.session.scalars(select(AuthSession)):
                if session.refreshed_at is not None:
                    session.refreshed_at -= timedelta(minutes=10)
            db.session.commit()
            db.session.remove()
        later = new_client(app)
        later.set_cookie("refresh_token", cookie, domain="localhost")
        assert later.post("/user/refresh").status_code == 200
        cookie = later.get_cookie("refresh_token").value
