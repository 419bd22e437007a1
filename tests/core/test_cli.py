"""Operator commands."""

from sqlalchemy import select

from app.auth.models import User


def test_create_admin_makes_a_verified_admin_who_can_log_in(app, client, accounts, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-admin", "--email", "Ops@Example.com", "--name", "Ops", "--password", "operator-pass-1"]
    )
    assert result.exit_code == 0, result.output
    user = db_session.scalars(select(User).where(User.email == "ops@example.com")).one()
    assert user.role == "admin" and user.is_verified
    accounts.login(client, "ops@example.com", password="operator-pass-1")
    assert client.get("/user/authenticate").get_json()["is_admin"] is True


def test_create_admin_promotes_an_existing_customer(app, accounts, client, admin_client, db_session):
    email = accounts.signup(client)
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", email, "--name", "X", "--password", "new-admin-pass"]
    )
    assert result.exit_code == 0, result.output
    user = db_session.scalars(select(User).where(User.email == email)).one()
    assert user.role == "admin" and user.is_verified


def test_create_admin_refuses_a_short_password(app, db_session):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "a@example.com", "--name", "A", "--password", "short"]
    )
    assert result.exit_code != 0
    assert db_session.scalars(select(User)).first() is None
