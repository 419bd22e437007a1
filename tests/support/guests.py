"""A guest shopper for tests that need one before the cart creates them over HTTP."""

from app.auth import tokens
from app.auth.models import Role, User
from app.cart.services import create_cart
from app.extensions import db
from tests.conftest import new_client


def guest_client(app):
    """A client holding the cookies of a new guest account."""
    client = new_client(app)
    with app.test_request_context():
        guest = User(full_name="Guest User", role=Role.GUEST)
        db.session.add(guest)
        db.session.flush()
        create_cart(user_id=guest.id)
        issued = tokens.start_session(user=guest)
        db.session.commit()
        guest_id = guest.id
        db.session.remove()
    client.set_cookie("access_token", issued.access, domain="localhost")
    client.set_cookie("refresh_token", issued.refresh, domain="localhost")
    client.guest_id = guest_id
    return client
