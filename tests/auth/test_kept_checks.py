"""A login's live check is kept in each process's memory, yet every revocation, account
change and expiry made anywhere takes effect on the very next request in every process."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.auth import services
from app.auth.models import AuthSession, User
from app.core.db import utcnow
from tests.conftest import PASSWORD, new_client
from tests.support.delivery import seen_soon


@pytest.fixture
def other_process(make_app):
    """A second instance of the shop, with its own memory, as another gunicorn worker."""
    return make_app()


def same_browser(client, app):
    """The browser behind `client`, whose next request lands on `app`."""
    twin = new_client(app)
    for name in ("access_token", "refresh_token"):
        cookie = client.get_cookie(name, domain="localhost")
        if cookie is not None:
            twin.set_cookie(name, cookie.value, domain="localhost")
    return twin


def kept(twin):
    """Two requests: the second is answered from the kept check."""
    assert twin.get("/user/authenticate").status_code == 200
    assert twin.get("/user/authenticate").status_code == 200
    return twin


def test_logout_in_one_process_refuses_the_cookie_in_another(customer, other_process):
    client, _ = customer
    twin = kept(same_browser(client, other_process))
    assert client.post("/user/logout").status_code == 200
    seen_soon(lambda: twin.get("/user/authenticate").status_code, 401, app=other_process)
    assert twin.get("/cart/").status_code == 401


def test_a_password_change_signs_out_other_sessions_everywhere(accounts, other_process):
    first, email = accounts.logged_in_client(full_name="Pat Two-Tabs")
    second = new_client(accounts.app)
    accounts.login(second, email)
    twin = kept(same_browser(second, other_process))
    changed = first.put(
        "/user/edit-password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert changed.status_code == 200
    seen_soon(lambda: twin.get("/user/authenticate").status_code, 401, app=other_process)
    assert first.get("/user/authenticate").status_code == 200


def test_a_deleted_account_is_refused_everywhere_at_once(customer, other_process):
    client, _ = customer
    twin = kept(same_browser(client, other_process))
    assert client.delete("/user/delete-account").status_code == 200
    seen_soon(lambda: twin.get("/user/authenticate").status_code, 401, app=other_process)


def test_a_promotion_shows_in_every_process_at_once(customer, other_process, app):
    client, email = customer
    twin = kept(same_browser(client, other_process))
    assert twin.get("/user/authenticate").json["is_admin"] is False
    assert twin.get("/user/admin/dashboard").status_code == 403
    with app.app_context():
        services.create_admin(email=email, full_name="Casey Customer", password=PASSWORD)
    seen_soon(lambda: twin.get("/user/authenticate").json["is_admin"], True, app=other_process)
    assert twin.get("/user/admin/dashboard").status_code == 200


def test_a_kept_check_never_outlives_the_session(customer, other_process, db_session):
    client, email = customer
    twin = kept(same_browser(client, other_process))
    user_id = db_session.scalar(select(User.id).where(User.email == email))
    db_session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id)
        .values(expires_at=utcnow() + timedelta(seconds=1.5))
    )
    db_session.commit()
    kept(twin)  # checked again after the change, and kept with the new end
    time.sleep(2)
    assert twin.get("/user/authenticate").status_code == 401


def test_a_forged_cookie_is_refused_even_beside_a_kept_one(customer, other_process):
    client, _ = customer
    twin = kept(same_browser(client, other_process))
    genuine = twin.get_cookie("access_token", domain="localhost").value
    header, payload, signature = genuine.split(".")
    forged = ".".join((header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    twin.set_cookie("access_token", forged, domain="localhost")
    assert twin.get("/user/authenticate").status_code == 401
