"""Cart lines and the stock they reserve.

Every line's quantity is held on its product as `products.reserved_stock`. A reservation
only changes through `_RESERVE` (one conditional UPDATE that succeeds only while enough units
are free; run by `_reserve`, or as the first part of one of add_to_cart's statements) and
`_RELEASE` (one UPDATE, run by `_release`), both guarded by the CHECK constraints of
`products`, so no interleaving of requests can reserve more than the stock.

Every write to an existing cart first locks the cart row, so two requests on the same cart
run one after the other (the per-line cap, the "replace the quantity" rule and the checkout
lock are then exact). Lock order, kept by every function here and expected from callers:
users, carts (by id), cart lines, products (by id); a new guest's user, cart and line are new
rows that nobody else can hold. Product rows are only touched by single UPDATE statements, and
add_to_cart writes the product row last, just before its commit: every shopper of a popular
product queues for that row lock.

Whenever `reserved_stock` changes, the product's tag is announced after the commit, so product
pages kept by any process are recomputed (app.core.invalidation).

add_to_cart is the busiest write of the shop; its costs and its commit without waiting for
the disk (PostgreSQL) are explained in docs/decisions/0010-cart-commits-without-flush.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from flask import current_app
from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import AuthSession, Role, User
from app.cart.errors import CartErrorCode
from app.cart.models import Cart, CartProduct
from app.catalog.models import Category, Product, ProductImage
from app.core.db import UTCDateTime, committing, is_row_id, utcnow
from app.core.errors import AppError, NotFound
from app.core.invalidation import announce_now, note_changed, product_tag
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.tokens import IssuedTokens

log = logging.getLogger(__name__)

GUEST_FULL_NAME = "Guest User"

PRODUCT_NOT_FOUND = "Product not found"
CART_PRODUCT_NOT_FOUND = "Cart product not found"
# The contract spells the two out-of-stock messages differently (add vs. update).
OUT_OF_STOCK_ON_ADD = "Product is out of stock"
OUT_OF_STOCK_ON_UPDATE = "Product is out of stock."
CART_LOCKED_MESSAGE = (
    "Your cart cannot be changed while a checkout is in progress. "
    "Complete or cancel the payment first."
)


@dataclass
class CartLine:
    """A cart line as the API shows it after a write."""

    id: int
    quantity: int
    product_id: int
    cart_id: int


@dataclass
class AddToCartResult:
    line: CartLine
    # The new guest's login session, when the caller had none (the route sets its cookies).
    guest_tokens: IssuedTokens | None = None


@dataclass
class MergeResult:
    """What merge_guest_cart did: lines moved into the account, units given back to stock
    because of the caps, and whether the guest was deleted."""

    moved_lines: int = 0
    released_units: int = 0
    guest_deleted: bool = False
    skipped_reason: str | None = None
    released_product_ids: list[int] = field(default_factory=list)


# --- limits -----------------------------------------------------------------------------------


def max_quantity_per_line() -> int:
    return int(current_app.config["CART_MAX_QUANTITY_PER_LINE"])


def max_lines_per_cart() -> int:
    return int(current_app.config["CART_MAX_LINES"])


def quantity_range_message() -> str:
    return f"Quantity must be a whole number from 1 to {max_quantity_per_line()}"


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= max_quantity_per_line():
        raise AppError(quantity_range_message(), code=CartErrorCode.QUANTITY_OUT_OF_RANGE)


# --- building blocks (caller's transaction) ---------------------------------------------------


def create_cart(*, user_id: int) -> Cart:
    """Add an empty cart for a new user to the current transaction."""
    cart = Cart(user_id=user_id)
    db.session.add(cart)
    return cart


# Built once: building a statement costs more than running it, and these run on every cart
# write. (Parameter names differ from column names, which Core would read as values to write.)
_products = Product.__table__
_PRODUCT = bindparam("product", type_=Integer())
_UNITS = bindparam("units", type_=Integer())
_RESERVE = (
    update(_products)
    .where(_products.c.id == _PRODUCT, _products.c.stock - _products.c.reserved_stock >= _UNITS)
    .values(reserved_stock=_products.c.reserved_stock + _UNITS)
)
_RELEASE = (
    update(_products)
    .where(_products.c.id == _PRODUCT)
    .values(reserved_stock=_products.c.reserved_stock - _UNITS)
)


def _reserve(session: Session, *, product_id: int, units: int) -> bool:
    """Hold `units` more units of the product, in one statement that succeeds only while that
    many are free. Returns False (and changes nothing) when they are not."""
    note_changed(session, product_tag(product_id))
    result = session.connection().execute(_RESERVE, {"product": product_id, "units": units})
    return result.rowcount == 1


def _release(session: Session, *, product_id: int, units: int) -> None:
    """Give `units` reserved units of the product back (the CHECK constraint refuses to go
    below zero, which would mean the books are already wrong)."""
    note_changed(session, product_tag(product_id))
    session.connection().execute(_RELEASE, {"product": product_id, "units": units})


def release_cart_lines(*, cart_id: int, session: Session | None = None) -> int:
    """Delete every line of the cart and give its reserved units back, in the caller's
    transaction (db.session unless `session` is given). The lines are locked first, so a
    concurrent release cannot free the same units twice. Returns the number of lines released."""
    session = session if session is not None else db.session
    lines = session.execute(
        select(CartProduct.id, CartProduct.product_id, CartProduct.quantity)
        .where(CartProduct.cart_id == cart_id)
        .order_by(CartProduct.product_id)
        .with_for_update()
    ).all()
    if not lines:
        return 0
    for line in lines:
        _release(session, product_id=line.product_id, units=line.quantity)
    session.execute(
        delete(CartProduct)
        .where(CartProduct.id.in_([line.id for line in lines]))
        .execution_options(synchronize_session=False)
    )
    return len(lines)


def ensure_cart_editable(cart: Cart, session: Session | None = None) -> None:
    """The one place that decides what happens to a cart change while a checkout is open
    (the cart row is locked by the caller): the open Stripe session is expired first, so
    nothing can be paid for a basket that no longer exists; if it was already paid, the
    order is completed and the change refused."""
    if cart.locked_at is not None:
        from app.orders.checkout import close_open_checkout

        close_open_checkout(cart=cart, session=session)


def _lock_cart(session: Session, *, user_id: int) -> Cart | None:
    return session.scalars(
        select(Cart)
        .where(Cart.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _lock_or_create_cart(session: Session, *, user_id: int) -> Cart:
    """Every user has a cart; one that went missing is recreated rather than refusing the
    shopper (two requests doing so at once: the unique user_id lets one win)."""
    cart = _lock_cart(session, user_id=user_id)
    if cart is not None:
        return cart
    try:
        with session.begin_nested():
            session.add(Cart(user_id=user_id))
    except IntegrityError:
        pass
    cart = _lock_cart(session, user_id=user_id)
    if cart is None:  # the user itself is gone
        raise NotFound("Cart not found", code=CartErrorCode.CART_NOT_FOUND)
    return cart


def _owned_line(session: Session, *, cart: Cart | None, cart_product_id: int) -> CartProduct:
    """The caller's line `cart_product_id`; someone else's line is answered like a missing one."""
    if cart is None or not is_row_id(cart_product_id):
        raise NotFound(CART_PRODUCT_NOT_FOUND, code=CartErrorCode.CART_PRODUCT_NOT_FOUND)
    line = session.scalars(
        select(CartProduct)
        .where(CartProduct.id == cart_product_id, CartProduct.cart_id == cart.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if line is None:
        raise NotFound(CART_PRODUCT_NOT_FOUND, code=CartErrorCode.CART_PRODUCT_NOT_FOUND)
    return line


def _set_line_quantity(
    session: Session, line: CartProduct, quantity: int, *, out_of_stock: str
) -> int:
    """Replace the line's quantity, reserving or releasing only the difference. Returns the
    difference."""
    difference = quantity - line.quantity
    if difference > 0:
        if not _reserve(session, product_id=line.product_id, units=difference):
            raise AppError(out_of_stock, code=CartErrorCode.OUT_OF_STOCK)
    elif difference < 0:
        _release(session, product_id=line.product_id, units=-difference)
    line.quantity = quantity
    return difference


def _as_line(line: CartProduct) -> CartLine:
    return CartLine(
        id=line.id, quantity=line.quantity, product_id=line.product_id, cart_id=line.cart_id
    )


# --- what the endpoints call (own their transaction) ------------------------------------------


def get_cart_lines(*, user_id: int) -> list[dict]:
    """The user's cart lines, newest first, each with its product (free units as `stock`).
    One statement whatever the number of lines. Read only."""
    rows = db.session.execute(
        select(
            Cart.id.label("cart_id"),
            CartProduct.id.label("line_id"),
            CartProduct.quantity,
            CartProduct.product_id,
            Product.name,
            Product.price,
            (Product.stock - Product.reserved_stock).label("free"),
            Category.name.label("category_name"),
            ProductImage.image_path,
        )
        .select_from(Cart)
        .outerjoin(CartProduct, CartProduct.cart_id == Cart.id)
        .outerjoin(Product, Product.id == CartProduct.product_id)
        .outerjoin(Category, Category.id == Product.category_id)
        .outerjoin(ProductImage, ProductImage.product_id == Product.id)
        .where(Cart.user_id == user_id)
        .order_by(CartProduct.id.desc())
    ).all()
    if not rows:
        raise NotFound("Cart not found", code=CartErrorCode.CART_NOT_FOUND)
    return [
        {
            "cart_product": {
                "id": row.line_id,
                "quantity": row.quantity,
                "product_id": row.product_id,
                "cart_id": row.cart_id,
            },
            "product": {
                "id": row.product_id,
                "name": row.name,
                "price": row.price,
                "stock": max(row.free, 0),
                "image_path": row.image_path,
                "category_name": row.category_name,
            },
        }
        for row in rows
        if row.line_id is not None
    ]


def add_to_cart(*, user_id: int | None, product_id: int, quantity: int) -> AddToCartResult:
    """Put `quantity` units of a product in the user's cart; an existing line's quantity is
    replaced and only the difference is reserved. Without a user (`user_id=None`) a guest
    with a cart and a login session is created, in the same transaction as the line and its
    reservation, so a refused request leaves no guest behind.

    The shop's busiest write: a few statements built once (Core, not the unit of work), the
    product row written last. On PostgreSQL a new guest is one statement, and an existing
    cart three at most (lock the cart, lock its lines, write the line with its reservation).

    Side effects: reserves stock, writes the line, stamps the cart's last_added_at, may create
    a guest user, cart and session; commits."""
    _check_quantity(quantity)
    if not is_row_id(product_id):
        raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
    with committing(db.session()) as session:
        if user_id is None:
            return _add_for_new_guest(session, product_id=product_id, quantity=quantity)
        line = _add_for_user(session, user_id=user_id, product_id=product_id, quantity=quantity)
        return AddToCartResult(line=line)


# --- add_to_cart's statements --------------------------------------------------------------
#
# On PostgreSQL the writes that end with the reservation are one statement (a data-modifying
# WITH); other databases (SQLite, the development default) run them one by one, in the same
# order and transaction.

_users, _sessions, _carts, _lines = (
    User.__table__,
    AuthSession.__table__,
    Cart.__table__,
    CartProduct.__table__,
)
_NOW = bindparam("now", type_=UTCDateTime())
_CART = bindparam("cart", type_=Integer())
_OWNER = bindparam("owner", type_=Integer())
# PostgreSQL: the commit of this transaction returns before its WAL reaches the disk (see
# docs/decisions/0010-cart-commits-without-flush.md). Selected only by the statements that
# begin a transaction writing nothing but guests, carts, cart lines and reservations, and
# evaluated only when they succeed.
_COMMIT_WITHOUT_FLUSH = func.set_config("synchronous_commit", "off", true()).label(
    "commit_without_flush"
)

# The cart row lock that serialises every write to one cart, taken by stamping the cart. A
# cart locked by a checkout (or missing) is left to _hold_cart_the_long_way.
_STAMP_UNLOCKED_CART = (
    update(_carts)
    .where(_carts.c.user_id == _OWNER, _carts.c.locked_at.is_(None))
    .values(last_added_at=_NOW)
    .returning(_carts.c.id)
)
_STAMP_UNLOCKED_CART_PG = _STAMP_UNLOCKED_CART.returning(_COMMIT_WITHOUT_FLUSH)
# Read in a statement of their own once the cart lock is held (a statement that waited for
# that lock would not see what its holder wrote), and locked in release_cart_lines' order.
_LOCK_LINES = (
    select(_lines.c.id, _lines.c.product_id, _lines.c.quantity)
    .where(_lines.c.cart_id == _CART)
    .order_by(_lines.c.product_id)
    .with_for_update()
)
_LINE = bindparam("line", type_=Integer())
_WANTED = bindparam("wanted", type_=Integer())
_SET_LINE_QUANTITY = update(_lines).where(_lines.c.id == _LINE).values(quantity=_WANTED)
_PRODUCT_EXISTS = select(_products.c.id).where(_products.c.id == _PRODUCT)
# Inserts nothing when the product does not exist (or was deleted a moment ago).
_INSERT_LINE_OF_PRODUCT = (
    insert(_lines)
    .from_select(
        ["cart_id", "product_id", "quantity", "created_at"],
        select(_CART, _products.c.id, _UNITS, _NOW).where(_products.c.id == _PRODUCT),
    )
    .returning(_lines.c.id)
)
# A new guest, one statement at a time: the guest (only while the product has the units free,
# so that a refused request usually creates nobody), its login session, its cart, the line,
# and the reservation (the real check) last.
_INSERT_GUEST_WHILE_FREE = (
    insert(_users)
    .from_select(
        ["full_name", "role", "is_verified", "created_at"],
        select(literal(GUEST_FULL_NAME), literal(Role.GUEST.value), false(), _NOW).where(
            _products.c.id == _PRODUCT,
            _products.c.stock - _products.c.reserved_stock >= _UNITS,
        ),
    )
    .returning(_users.c.id)
)
_INSERT_SESSION = insert(_sessions)
_INSERT_CART = (
    insert(_carts)
    .values(user_id=_OWNER, created_at=_NOW, last_added_at=_NOW)
    .returning(_carts.c.id)
)


def _reserved_cte():
    """The reservation as a WITH part: the product's id when the units were free, else no
    row. (Inside a WITH the column's onupdate is not applied, so updated_at is set here.)"""
    return _RESERVE.values(updated_at=_NOW).returning(_products.c.id).cte("reserved")


def _new_guest_statement():
    """PostgreSQL, one statement: the reservation, and only if it succeeded the guest, its
    login session, its cart and the line (else no row)."""
    reserved = _reserved_cte()
    guest = (
        insert(_users)
        .from_select(
            ["full_name", "role", "is_verified", "created_at"],
            select(literal(GUEST_FULL_NAME), literal(Role.GUEST.value), false(), _NOW).select_from(
                reserved
            ),
        )
        .returning(_users.c.id)
        .cte("guest")
    )
    login = (
        insert(_sessions)
        .from_select(
            ["id", "user_id", "refresh_jti", "remember_me", "created_at", "expires_at"],
            select(
                bindparam("session_id", type_=String()),
                guest.c.id,
                bindparam("refresh_jti", type_=String()),
                false(),
                _NOW,
                bindparam("expires", type_=UTCDateTime()),
            ),
        )
        .cte("login")
    )
    cart = (
        insert(_carts)
        .from_select(["user_id", "created_at", "last_added_at"], select(guest.c.id, _NOW, _NOW))
        .returning(_carts.c.id, _carts.c.user_id)
        .cte("cart")
    )
    line = (
        insert(_lines)
        .from_select(
            ["cart_id", "product_id", "quantity", "created_at"],
            select(cart.c.id, _PRODUCT, _UNITS, _NOW),
        )
        .returning(_lines.c.id, _lines.c.cart_id)
        .cte("line")
    )
    return (
        select(
            cart.c.user_id.label("guest_id"),
            line.c.cart_id,
            line.c.id.label("line_id"),
            _COMMIT_WITHOUT_FLUSH,
        )
        .join_from(line, cart, cart.c.id == line.c.cart_id)
        .add_cte(login)
    )


def _new_line_statement():
    """PostgreSQL, one statement: the reservation, and only if it succeeded the new line of
    the (locked) cart (else no row)."""
    reserved = _reserved_cte()
    return (
        insert(_lines)
        .from_select(
            ["cart_id", "product_id", "quantity", "created_at"],
            select(_CART, reserved.c.id, _UNITS, _NOW),
        )
        .returning(_lines.c.id)
    )


def _changed_line_statement():
    """PostgreSQL, one statement: the reservation moved by `units`, the difference (a
    negative one gives units back, and its condition always holds), and only if that
    succeeded the line's new quantity (else no row)."""
    moved = _reserved_cte()
    return (
        update(_lines)
        .where(_lines.c.id == _LINE, _lines.c.product_id == moved.c.id)
        .values(quantity=_WANTED)
        .returning(_lines.c.id)
    )


_NEW_GUEST_PG = _new_guest_statement()
_NEW_LINE_PG = _new_line_statement()
_CHANGED_LINE_PG = _changed_line_statement()


def _add_for_new_guest(session: Session, *, product_id: int, quantity: int) -> AddToCartResult:
    """The guest, its login session (app.auth.tokens supplies the row and the tokens), its
    cart, the line and the reservation: one statement on PostgreSQL, five elsewhere."""
    from app.auth.tokens import guest_session_row, guest_tokens

    postgresql = session.get_bind().dialect.name == "postgresql"
    autocommit = postgresql and not session.in_transaction()
    if autocommit:
        # One statement is a transaction of its own: run without BEGIN and COMMIT, the
        # product row is locked only while the statement runs, not until this process gets
        # round to sending the COMMIT.
        connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        connection = session.connection()
    login = guest_session_row()
    now = login["created_at"]
    values = {"product": product_id, "units": quantity, "now": now}
    if postgresql:
        if not autocommit:
            note_changed(session, product_tag(product_id))
        row = connection.execute(
            _NEW_GUEST_PG,
            {
                **values,
                "session_id": login["id"],
                "refresh_jti": login["refresh_jti"],
                "expires": login["expires_at"],
            },
        ).first()
        if row is None:
            _refuse(connection, product_id)
        if autocommit:
            # Committed by the statement itself: announced now, whatever happens next.
            announce_now(product_tag(product_id))
        guest_id, cart_id, line_id = row.guest_id, row.cart_id, row.line_id
    else:
        guest_id = connection.execute(_INSERT_GUEST_WHILE_FREE, values).scalar()
        if guest_id is None:
            _refuse(connection, product_id)
        connection.execute(_INSERT_SESSION, {**login, "user_id": guest_id})
        cart_id = connection.execute(_INSERT_CART, {"owner": guest_id, "now": now}).scalar_one()
        line_id = _insert_line(session, cart_id, product_id, quantity, now)
    line = CartLine(id=line_id, quantity=quantity, product_id=product_id, cart_id=cart_id)
    return AddToCartResult(line=line, guest_tokens=guest_tokens(guest_id=guest_id, row=login))


def _add_for_user(session: Session, *, user_id: int, product_id: int, quantity: int) -> CartLine:
    """Lock and stamp the cart, lock its lines; then a new line and its reservation, or a
    changed quantity and the difference (one statement on PostgreSQL, two elsewhere)."""
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    now = utcnow()
    cart_id = connection.execute(
        _STAMP_UNLOCKED_CART_PG if postgresql else _STAMP_UNLOCKED_CART,
        {"owner": user_id, "now": now},
    ).scalar()
    if cart_id is None:
        cart_id = _hold_cart_the_long_way(session, user_id=user_id, product_id=product_id)
    lines = connection.execute(_LOCK_LINES, {"cart": cart_id}).all()
    line = next((line for line in lines if line.product_id == product_id), None)
    if line is None:
        if len(lines) >= max_lines_per_cart():
            if connection.execute(_PRODUCT_EXISTS, {"product": product_id}).first() is None:
                raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
            raise AppError(
                f"Your cart can hold at most {max_lines_per_cart()} different products",
                code=CartErrorCode.CART_FULL,
            )
        line_id = _insert_line(session, cart_id, product_id, quantity, now)
        return CartLine(id=line_id, quantity=quantity, product_id=product_id, cart_id=cart_id)
    if quantity != line.quantity:
        _change_line(session, line, quantity, now)
    return CartLine(id=line.id, quantity=quantity, product_id=product_id, cart_id=cart_id)


def _insert_line(session: Session, cart_id: int, product_id: int, quantity: int, now) -> int:
    """A new line of the locked cart `cart_id` and its reservation, the reservation last."""
    connection = session.connection()
    values = {"cart": cart_id, "product": product_id, "units": quantity, "now": now}
    if connection.dialect.name == "postgresql":
        note_changed(session, product_tag(product_id))
        line_id = connection.execute(_NEW_LINE_PG, values).scalar()
        if line_id is None:
            _refuse(connection, product_id)
        return line_id
    line_id = connection.execute(_INSERT_LINE_OF_PRODUCT, values).scalar()
    if line_id is None:
        raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
    if not _reserve(session, product_id=product_id, units=quantity):
        raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)
    return line_id


def _change_line(session: Session, line, quantity: int, now) -> None:
    """Set the locked `line` to `quantity` and move its reservation by the difference, the
    reservation last."""
    connection = session.connection()
    difference = quantity - line.quantity
    if connection.dialect.name == "postgresql":
        note_changed(session, product_tag(line.product_id))
        moved = connection.execute(
            _CHANGED_LINE_PG,
            {
                "line": line.id,
                "wanted": quantity,
                "product": line.product_id,
                "units": difference,
                "now": now,
            },
        ).first()
        if moved is None:
            raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)
        return
    connection.execute(_SET_LINE_QUANTITY, {"line": line.id, "wanted": quantity})
    if difference < 0:
        _release(session, product_id=line.product_id, units=-difference)
    elif not _reserve(session, product_id=line.product_id, units=difference):
        raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)


def _refuse(connection, product_id: int) -> NoReturn:
    """The line could not be added: the product is unknown, or its units are not free."""
    if connection.execute(_PRODUCT_EXISTS, {"product": product_id}).first() is None:
        raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
    raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)


def _hold_cart_the_long_way(session: Session, *, user_id: int, product_id: int) -> int:
    """The user's cart is locked by a checkout, or missing: lock (or recreate) it through the
    checkout gate, then stamp it. The product is looked up first, so that adding an unknown
    product never touches an open checkout. This transaction may complete an order, so its
    commit waits for the disk as usual."""
    if session.connection().execute(_PRODUCT_EXISTS, {"product": product_id}).first() is None:
        raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
    cart = _lock_or_create_cart(session, user_id=user_id)
    ensure_cart_editable(cart, session)
    cart.last_added_at = utcnow()
    session.flush()
    return cart.id


def update_cart_line(*, user_id: int, cart_product_id: int, quantity: int) -> CartLine:
    """Set the quantity of one of the user's cart lines, reserving or releasing the
    difference. Side effects: writes the line and the product's reservation (a raise also
    stamps last_added_at); commits."""
    _check_quantity(quantity)
    session = db.session
    try:
        cart = _lock_cart(session, user_id=user_id)
        line = _owned_line(session, cart=cart, cart_product_id=cart_product_id)
        ensure_cart_editable(cart, session)
        if _set_line_quantity(session, line, quantity, out_of_stock=OUT_OF_STOCK_ON_UPDATE) > 0:
            cart.last_added_at = utcnow()
        session.flush()
        result = _as_line(line)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return result


def remove_cart_line(*, user_id: int, cart_product_id: int) -> None:
    """Delete one of the user's cart lines and release its reservation; commits."""
    session = db.session
    try:
        cart = _lock_cart(session, user_id=user_id)
        line = _owned_line(session, cart=cart, cart_product_id=cart_product_id)
        ensure_cart_editable(cart, session)
        _release(session, product_id=line.product_id, units=line.quantity)
        session.delete(line)
        session.commit()
    except Exception:
        session.rollback()
        raise


# --- login with a guest cart ------------------------------------------------------------------


def merge_guest_cart(*, guest_user_id: int, into_user_id: int) -> MergeResult:
    """Move a guest's cart lines into an account's cart and delete the guest, in the CALLER's
    transaction (nothing is committed or rolled back here). See
    docs/decisions/0007-guest-cart-merge.md for the rule.

    Quantities of a product in both carts are added up. Both were already reserved, so the
    merge never needs a free unit; units cut by the per-line maximum or by the cap on distinct
    products are released. When either cart is locked by an open checkout nothing moves and
    the guest is kept (its checkout may still be paid).

    Side effects: moves/updates/deletes cart lines, releases trimmed reservations, stamps the
    account cart's last_added_at, deletes the guest user (its cart, addresses and sessions go
    with it)."""
    result = MergeResult()
    if guest_user_id == into_user_id:
        result.skipped_reason = "same_user"
        return result
    session = db.session
    guest = session.scalars(
        select(User).where(User.id == guest_user_id, User.role == Role.GUEST).with_for_update()
    ).first()
    if guest is None:
        result.skipped_reason = "no_guest"
        return result
    carts = session.scalars(
        select(Cart)
        .where(Cart.user_id.in_([guest_user_id, into_user_id]))
        .order_by(Cart.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    guest_cart = next((cart for cart in carts if cart.user_id == guest_user_id), None)
    account_cart = next((cart for cart in carts if cart.user_id == into_user_id), None)
    if account_cart is None:
        account_cart = create_cart(user_id=into_user_id)
        session.flush()
    if guest_cart is not None and (
        guest_cart.locked_at is not None or account_cart.locked_at is not None
    ):
        result.skipped_reason = "checkout_open"
        log.info(
            "guest cart not merged: a checkout is open",
            extra={"guest_user_id": guest_user_id, "user_id": into_user_id},
        )
        return result
    if guest_cart is not None:
        _move_lines(session, guest_cart=guest_cart, account_cart=account_cart, result=result)
    session.delete(guest)
    session.flush()
    result.guest_deleted = True
    return result


def _move_lines(
    session: Session, *, guest_cart: Cart, account_cart: Cart, result: MergeResult
) -> None:
    guest_lines = session.scalars(
        select(CartProduct)
        .where(CartProduct.cart_id == guest_cart.id)
        .order_by(CartProduct.product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not guest_lines:
        return
    account_lines = {
        line.product_id: line
        for line in session.scalars(
            select(CartProduct)
            .where(CartProduct.cart_id == account_cart.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    }
    per_line, line_cap = max_quantity_per_line(), max_lines_per_cart()
    line_count = len(account_lines)
    for guest_line in guest_lines:
        existing = account_lines.get(guest_line.product_id)
        held = guest_line.quantity + (existing.quantity if existing is not None else 0)
        if existing is None and line_count >= line_cap:
            released = held
            session.delete(guest_line)
        else:
            kept = min(held, per_line)
            released = held - kept
            if existing is not None:
                existing.quantity = kept
                session.delete(guest_line)
            else:
                guest_line.cart_id = account_cart.id
                guest_line.quantity = kept
                line_count += 1
            result.moved_lines += 1
        if released:
            result.released_units += released
            result.released_product_ids.append(guest_line.product_id)
            _release(session, product_id=guest_line.product_id, units=released)
    if result.moved_lines:
        account_cart.last_added_at = utcnow()
    session.flush()
