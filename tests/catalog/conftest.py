"""Catalogue fixtures: the application stores images in a Google Cloud Storage emulator
(gcp-storage-emulator, started once per session on a free port), a shop builder driving
the admin API, and guests created through the service layer."""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.catalog.support import Shop, StorageEmulator
from tests.conftest import base_config, new_client


@pytest.fixture(scope="session")
def gcs():
    emulator = StorageEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def app(mailgun, gcs):
    """The shared test application, with images in the storage emulator."""
    from flask_migrate import upgrade

    from app import create_app

    application = create_app({**base_config(mailgun), **gcs.config}, env="testing")
    with application.app_context():
        upgrade()
    return application


@pytest.fixture(scope="session")
def make_app(mailgun, app, gcs):
    from app import create_app

    def factory(**overrides):
        return create_app({**base_config(mailgun), **gcs.config, **overrides}, env="testing")

    return factory


@pytest.fixture(autouse=True)
def empty_bucket(gcs):
    gcs.clear()
    yield


@pytest.fixture
def shop(admin_client):
    return Shop(admin_client)


@pytest.fixture
def guest_client(app):
    """A guest (role `guest`, no email) with a cart and a live session, made through the
    account and cart services rather than the cart endpoint."""
    from app.auth.models import Role, User
    from app.auth.tokens import start_session
    from app.cart.services import create_cart

    with app.app_context():
        user = User(full_name="Guest User", role=Role.GUEST)
        db.session.add(user)
        db.session.flush()
        create_cart(user_id=user.id)
        issued = start_session(user=user)
        db.session.commit()
        db.session.remove()
    client = new_client(app)
    client.set_cookie("access_token", issued.access)
    client.set_cookie("refresh_token", issued.refresh)
    assert client.get("/user/authenticate").json == {
        "logged_in": True,
        "is_admin": False,
        "is_customer": False,
    }
    return client


@pytest.fixture
def customer_client(customer):
    client, _email = customer
    return client
