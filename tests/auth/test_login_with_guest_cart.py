"""A guest who logs in keeps the basket: its lines move into the account's cart."""

from sqlalchemy import func, select

from app.auth.models import Role, User
from tests.cart.support import make_product, stock_of
from tests.conftest import PASSWORD, new_client


def test_login_from_a_guest_session_moves_the_basket(app, accounts, admin_client, db_session):
    email = accounts.verified(new_client(app))
    mug = make_product(app, stock=5)
    shopper = new_client(app)
    assert shopper.post(f"/cart/{mug}", json={"quantity": 2}).status_code == 200
    accounts.login(shopper, email)
    lines = shopper.get("/cart/").get_json()
    assert [(line["product"]["id"], line["cart_product"]["quantity"]) for line in lines] == [(mug, 2)]
    assert stock_of(app, mug) == (5, 2)
    assert db_session.scalar(select(func.count()).select_from(User).where(User.role == Role.GUEST)) == 0


def test_the_storefronts_logout_just_before_login_does_not_lose_the_basket(app, accounts, admin_client):
    email = accounts.verified(new_client(app))
    mug = make_product(app, stock=5)
    shopper = new_client(app)
    shopper.post(f"/cart/{mug}", json={"quantity": 1})
    guest_access = shopper.get_cookie("access_token").value
    assert shopper.post("/user/logout").status_code == 200
    # The logout response cleared the cookie, but the login request was already on its way.
    shopper.set_cookie("access_token", guest_access, domain="localhost")
    accounts.login(shopper, email)
    assert len(shopper.get("/cart/").get_json()) == 1


def test_login_without_a_guest_changes_no_cart(app, accounts, admin_client):
    email = accounts.verified(new_client(app))
    mug = make_product(app, stock=5)
    someone = new_client(app)
    someone.post(f"/cart/{mug}", json={"quantity": 1})
    fresh = new_client(app)
    accounts.login(fresh, email, password=PASSWORD)
    assert fresh.get("/cart/").get_json() == []
    assert stock_of(app, mug) == (5, 1)
