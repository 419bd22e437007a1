"""merge_guest_cart: a guest who logs in brings the basket along (docs/decisions/
0007-guest-cart-merge.md). The function runs in its caller's transaction, as login will call it."""

from __future__ import annotations

from sqlalchemy import select, update

from app.addresses.models import Address
from app.auth.models import Role, User
from app.cart.models import Cart, CartProduct
from app.cart.services import merge_guest_cart
from app.core.db import utcnow
from app.extensions import db
from tests.cart.support import count_rows, make_product, stock_of
from tests.conftest import new_client


def user_id_of(app, email) -> int:
    with app.app_context():
        value = db.session.scalars(select(User.id).where(User.email == email)).one()
        db.session.remove()
    return value


def guest_with(app, lines: dict[int, int]):
    """A guest made over HTTP holding `lines`; returns (client, guest id)."""
    client = new_client(app)
    for product_id, quantity in lines.items():
        assert client.post(f"/cart/{product_id}", json={"quantity": quantity}).status_code == 200
    with app.app_context():
        guest_id = db.session.scalars(
            select(User.id).where(User.role == Role.GUEST).order_by(User.id.desc())
        ).first()
        db.session.remove()
    return client, guest_id


def merge(app, guest_id, account_id, *, commit=True):
    with app.app_context():
        result = merge_guest_cart(guest_user_id=guest_id, into_user_id=account_id)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        db.session.remove()
    return result


def quantities(client) -> dict[int, int]:
    return {
        line["product"]["id"]: line["cart_product"]["quantity"]
        for line in client.get("/cart/").json
    }


def test_guest_lines_move_into_the_account_and_the_guest_is_deleted(app, customer):
    account, email = customer
    mug = make_product(app, name="Mug", stock=10)
    pan = make_product(app, name="Pan", stock=10)
    cup = make_product(app, name="Cup", stock=10)
    account.post(f"/cart/{mug}", json={"quantity": 2})
    guest_client, guest_id = guest_with(app, {mug: 3, pan: 1})
    guest_client.post(
        "/address/", json={"full_name": "G", "address_line_1": "1 St", "is_default": True}
    )
    # A product only the account holds stays as it is.
    account.post(f"/cart/{cup}", json={"quantity": 1})

    result = merge(app, guest_id, user_id_of(app, email))

    assert result.guest_deleted and result.moved_lines == 2 and result.released_units == 0
    assert quantities(account) == {mug: 5, pan: 1, cup: 1}
    assert stock_of(app, mug) == (10, 5)
    assert stock_of(app, pan) == (10, 1)
    assert count_rows(app, User, User.role == Role.GUEST) == 0
    assert count_rows(app, Address) == 0
    # The guest's session went with it.
    assert guest_client.get("/cart/").status_code == 401


def test_merged_quantities_are_capped_and_the_excess_released(app, customer, monkeypatch):
    monkeypatch.setitem(app.config, "CART_MAX_QUANTITY_PER_LINE", 4)
    account, email = customer
    mug = make_product(app, stock=10)
    account.post(f"/cart/{mug}", json={"quantity": 3})
    _, guest_id = guest_with(app, {mug: 3})
    assert stock_of(app, mug) == (10, 6)

    result = merge(app, guest_id, user_id_of(app, email))

    assert result.released_units == 2
    assert quantities(account) == {mug: 4}
    assert stock_of(app, mug) == (10, 4)


def test_products_beyond_the_line_cap_are_released(app, customer, monkeypatch):
    monkeypatch.setitem(app.config, "CART_MAX_LINES", 2)
    account, email = customer
    a, b, c = (make_product(app, name=name) for name in "ABC")
    account.post(f"/cart/{a}", json={"quantity": 1})
    _, guest_id = guest_with(app, {b: 2, c: 3})

    result = merge(app, guest_id, user_id_of(app, email))

    assert result.moved_lines == 1 and result.released_units == 3
    assert quantities(account) == {a: 1, b: 2}
    assert stock_of(app, c) == (10, 0)


def test_the_account_cart_is_stamped_as_recently_used(app, customer):
    account, email = customer
    mug = make_product(app)
    account_id = user_id_of(app, email)
    with app.app_context():
        db.session.execute(
            update(Cart).where(Cart.user_id == account_id).values(last_added_at=None)
        )
        db.session.commit()
        db.session.remove()
    _, guest_id = guest_with(app, {mug: 1})
    merge(app, guest_id, account_id)
    with app.app_context():
        stamped = db.session.scalars(
            select(Cart.last_added_at).where(Cart.user_id == account_id)
        ).one()
        db.session.remove()
    assert stamped is not None


def test_nothing_moves_while_a_checkout_is_open(app, customer):
    account, email = customer
    mug = make_product(app)
    guest_client, guest_id = guest_with(app, {mug: 2})
    with app.app_context():
        db.session.execute(update(Cart).where(Cart.user_id == guest_id).values(locked_at=utcnow()))
        db.session.commit()
        db.session.remove()

    result = merge(app, guest_id, user_id_of(app, email))

    assert result.skipped_reason == "checkout_open" and not result.guest_deleted
    assert quantities(account) == {}
    assert quantities(guest_client) == {mug: 2}
    assert stock_of(app, mug) == (10, 2)


def test_only_guests_are_merged_and_deleted(app, customer, accounts):
    account, email = customer
    other_client, other_email = accounts.logged_in_client(full_name="Other")
    mug = make_product(app)
    other_client.post(f"/cart/{mug}", json={"quantity": 2})

    result = merge(app, user_id_of(app, other_email), user_id_of(app, email))

    assert result.skipped_reason == "no_guest"
    assert quantities(other_client) == {mug: 2}
    assert quantities(account) == {}
    assert merge(app, user_id_of(app, email), user_id_of(app, email)).skipped_reason == "same_user"


def test_a_guest_with_an_empty_cart_is_simply_deleted(app, customer):
    account, email = customer
    mug = make_product(app)
    guest_client, guest_id = guest_with(app, {mug: 1})
    guest_client.delete(f"/cart/{guest_client.get('/cart/').json[0]['cart_product']['id']}")
    result = merge(app, guest_id, user_id_of(app, email))
    assert result.guest_deleted and result.moved_lines == 0
    assert count_rows(app, User, User.role == Role.GUEST) == 0


def test_the_caller_owns_the_transaction(app, customer):
    account, email = customer
    mug = make_product(app)
    guest_client, guest_id = guest_with(app, {mug: 2})

    merge(app, guest_id, user_id_of(app, email), commit=False)

    assert quantities(guest_client) == {mug: 2}
    assert quantities(account) == {}
    assert count_rows(app, CartProduct) == 1
    assert stock_of(app, mug) == (10, 2)
