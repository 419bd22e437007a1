"""Account rules that need more than one request: the first-admin race, hashing strength,
login timing."""

import threading

from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.auth.models import User
from config import BaseConfig, DevelopmentConfig, ProductionConfig
from tests.conftest import PASSWORD, new_client


def test_two_first_signups_at_once_make_exactly_one_admin(app, db_session):
    barrier = threading.Barrier(8)
    results = []

    def sign_up(i):
        client = new_client(app)
        barrier.wait()
        response = client.post(
            "/user/signup", json={"full_name": f"P{i}", "email": f"p{i}@example.com", "password": PASSWORD}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201] * 8
    roles = db_session.scalars(select(User.role)).all()
    assert sorted(roles).count("admin") == 1


def test_a_guest_does_not_stop_the_first_signup_becoming_admin(app, client, db_session):
    from tests.support.guests import guest_client

    guest_client(app)
    response = client.post("/user/signup", json={"full_name": "Owner", "email": "o@example.com", "password": PASSWORD})
    assert response.get_json()["role"] == "admin"


def test_production_hashing_meets_owasp_scrypt_parameters():
    for config in (BaseConfig, DevelopmentConfig, ProductionConfig):
        method, n, r, p = config.PASSWORD_HASH_METHOD.split(":")
        assert method == "scrypt" and int(n) >= 2**17 and int(r) >= 8 and int(p) >= 1


def test_stored_password_is_a_salted_hash(client, accounts, admin_client, db_session):
    email = accounts.signup(client)
    stored = db_session.scalars(select(User.password_hash).where(User.email == email)).one()
    assert PASSWORD not in stored and stored.startswith("scrypt:")
    assert check_password_hash(stored, PASSWORD)


def test_login_upgrades_a_hash_made_with_old_parameters(make_app, accounts, admin_client, db_session):
    client = new_client(make_app(PASSWORD_HASH_METHOD="scrypt:512:8:1"))
    email = accounts.verified(client)
    assert db_session.scalars(select(User.password_hash).where(User.email == email)).one().startswith("scrypt:512:")
    stronger = new_client(make_app(PASSWORD_HASH_METHOD="scrypt:2048:8:1"))
    accounts.login(stronger, email)
    db_session.expire_all()
    assert db_session.scalars(select(User.password_hash).where(User.email == email)).one().startswith("scrypt:2048:")
