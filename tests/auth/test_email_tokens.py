"""Verification and password reset by emailed link (contract §2.1.6–§2.1.9, §3.7)."""

from datetime import timedelta

from sqlalchemy import select, update

from app.auth.models import User
from app.core.db import utcnow
from tests.conftest import PASSWORD, link_token


def latest_link(mailgun, email, path):
    message = [m for m in mailgun.to(email) if f"/{path}/" in m.text][-1]
    return link_token(message.text, path)


def allow_next_email(db_session, email):
    """Move the last-sent stamps back, as if the 60-second cooldown had passed."""
    long_ago = utcnow() - timedelta(seconds=61)
    db_session.execute(
        update(User)
        .where(User.email == email)
        .values(verification_sent_at=long_ago, reset_sent_at=long_ago)
    )
    db_session.commit()


def test_verification_link_verifies_once(client, accounts, mailgun, admin_client):
    email = accounts.signup(client)
    token = latest_link(mailgun, email, "login")
    first = client.post(f"/user/verify-email/{token}")
    assert first.status_code == 200
    assert first.get_json() == {"message": "Email verified successfully"}
    again = client.post(f"/user/verify-email/{token}")
    assert again.status_code == 400
    assert again.get_json()["error"] == "Account already verified"
    accounts.login(client, email)


def test_tampered_or_foreign_verification_token_is_refused(client, accounts, mailgun, admin_client):
    email = accounts.signup(client)
    token = latest_link(mailgun, email, "login")
    for bad in (token[:-2] + "xx", "not-a-token", "a" * 300):
        response = client.post(f"/user/verify-email/{bad}")
        assert response.status_code == 400
        assert response.get_json()["error"] == "Token invalid or expired"


def test_expired_verification_token_is_refused(make_app, accounts, mailgun, admin_client, client):
    email = accounts.signup(client)
    token = latest_link(mailgun, email, "login")
    strict = make_app(EMAIL_TOKEN_MAX_AGE_SECONDS=-1).test_client()
    response = strict.post(f"/user/verify-email/{token}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Token invalid or expired"


def test_resend_replaces_the_previous_link(client, accounts, mailgun, admin_client, db_session):
    email = accounts.signup(client)
    first = latest_link(mailgun, email, "login")
    too_soon = client.post("/user/resend-verification", json={"email": email})
    assert too_soon.status_code == 400
    assert too_soon.get_json()["error"] == "Please wait before requesting another verification email"
    allow_next_email(db_session, email)
    response = client.post("/user/resend-verification", json={"email": email})
    assert response.get_json() == {"message": "Verification email sent successfully"}
    second = latest_link(mailgun, email, "login")
    assert second != first
    old = client.post(f"/user/verify-email/{first}")
    assert old.status_code == 400
    assert old.get_json()["error"] == "Invalid token or expired"
    assert client.post(f"/user/verify-email/{second}").status_code == 200


def test_resend_errors(client, accounts, admin_client):
    assert client.post("/user/resend-verification", json={"email": "bad"}).get_json()["error"] == "Invalid email provided"
    assert client.post("/user/resend-verification", json={"email": "ghost@example.com"}).get_json()["error"] == "User not found"
    email = accounts.verified(client)
    response = client.post("/user/resend-verification", json={"email": email})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Email already verified"


def test_password_reset_sets_new_password_and_ends_every_session(client, accounts, mailgun, admin_client, app):
    from tests.conftest import new_client

    email = accounts.verified(client)
    accounts.login(client, email)
    other_device = new_client(app)
    accounts.login(other_device, email)
    response = client.post("/user/reset-password", json={"email": email})
    assert response.get_json() == {"message": "Password reset email sent successfully"}
    token = latest_link(mailgun, email, "reset-password")
    done = client.put(f"/user/reset-password/{token}", json={"new_password": "a brand new secret"})
    assert done.status_code == 200
    assert client.get("/user/authenticate").status_code == 401
    assert other_device.post("/user/refresh").status_code == 401
    reused = client.put(f"/user/reset-password/{token}", json={"new_password": "yet another secret"})
    assert reused.get_json()["error"] == "Invalid token or expired"
    old = client.post("/user/login", json={"email": email, "password": PASSWORD, "remember_me": False})
    assert old.status_code == 400
    accounts.login(client, email, password="a brand new secret")


def test_reset_and_verification_tokens_do_not_cancel_each_other(client, accounts, mailgun, admin_client):
    email = accounts.signup(client)
    verify_token = latest_link(mailgun, email, "login")
    assert client.post("/user/reset-password", json={"email": email}).status_code == 200
    reset_token = latest_link(mailgun, email, "reset-password")
    assert client.post(f"/user/verify-email/{verify_token}").status_code == 200
    # A verification token is not a reset token, and the other way round.
    assert client.put(f"/user/reset-password/{verify_token}", json={"new_password": "whatever-123"}).get_json()["error"] == "Token invalid or expired"
    assert client.put(f"/user/reset-password/{reset_token}", json={"new_password": "whatever-123"}).status_code == 200


def test_reset_request_errors_and_cooldown(client, accounts, admin_client):
    assert client.post("/user/reset-password", json={"email": "ghost@example.com"}).get_json()["error"] == "User not found"
    email = accounts.verified(client)
    assert client.post("/user/reset-password", json={"email": email}).status_code == 200
    again = client.post("/user/reset-password", json={"email": email})
    assert again.status_code == 400
    assert again.get_json()["error"] == "Please wait before requesting another reset password email"


def test_reset_with_short_password_keeps_the_token(client, accounts, mailgun, admin_client):
    email = accounts.verified(client)
    client.post("/user/reset-password", json={"email": email})
    token = latest_link(mailgun, email, "reset-password")
    short = client.put(f"/user/reset-password/{token}", json={"new_password": "short"})
    assert short.status_code == 400
    assert short.get_json()["error"] == "Password must be at least 8 characters long"
    assert client.put(f"/user/reset-password/{token}", json={"new_password": "long enough now"}).status_code == 200


def test_stored_tokens_are_digests_not_the_links(client, accounts, mailgun, admin_client, db_session):
    email = accounts.signup(client)
    token = latest_link(mailgun, email, "login")
    user = db_session.scalars(select(User).where(User.email == email)).one()
    assert user.verification_token_digest and token not in user.verification_token_digest
