"""Cart lines and the stock they reserve.

Every line's quantity is held on its product as `products.reserved_stock`. A reservation
only changes through `_reserve` (one conditional UPDATE that succeeds only while enough units
are free) and `_release` (one UPDATE), both guarded by the CHECK constraints of `products`,
so no interleaving of requests can reserve more than the stock.

Every cart write first locks the cart row, so two requests on the same cart run one after the
other (the per-line cap, the "replace the quantity" rule and the checkout lock are then exact).
Lock order, kept by every function here and expected from callers: users, carts (by id),
cart lines, products (by id). Product rows are only touched by single UPDATE statements.

Whenever a function here changes `reserved_stock`, the catalogue's cached product data is
stale; see `_release` and `_reserve`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.cart.errors import CartErrorCode
from app.cart.models import Cart, CartProduct
from app.catalog.models import Category, Product, ProductImage
from app.core.db import is_row_id, utcnow
from app.core.errors import AppError, NotFound
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.tokens import IssuedTokens

log = logging.getLogger(__name__)

GUEST_FULL_NAME = "Guest User"
# Ids beyond PostgreSQL's integer range cannot exist; looking them up would be a database error.

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


def _reserve(session: Session, *, product_id: int, units: int) -> bool:
    """Hold `units` more units of the product, in one statement that succeeds only while that
    many are free. Returns False (and changes nothing) when they are not."""
    # Catalogue cache: reserved_stock changed; its cache-version bump belongs here (after commit).
    result = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock - Product.reserved_stock >= units)
        .values(reserved_stock=Product.reserved_stock + units)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _release(session: Session, *, product_id: int, units: int) -> None:
    """Give `units` reserved units of the product back (the CHECK constraint refuses to go
    below zero, which would mean the books are already wrong)."""
    # Catalogue cache: reserved_stock changed; its cache-version bump belongs here (after commit).
    session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(reserved_stock=Product.reserved_stock - units)
        .execution_options(synchronize_session=False)
    )


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


def _create_guest(session: Session) -> User:
    """A guest account: no email and no password (guests cannot log in), so it costs one
    insert and no password hashing."""
    guest = User(
        full_name=GUEST_FULL_NAME,
        role=Role.GUEST,
        email=None,
        password_hash=None,
        is_verified=False,
    )
    session.add(guest)
    session.flush()
    return guest


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
    with a cart and a login session is created first, in the same transaction, so a refused
    request leaves no guest behind.

    Side effects: reserves stock, writes the line, stamps the cart's last_added_at, may create
    a guest user, cart and session; commits."""
    from app.auth.tokens import start_session

    _check_quantity(quantity)
    session = db.session
    try:
        product = None
        if is_row_id(product_id):
            product = session.execute(
                select(Product.id, (Product.stock - Product.reserved_stock).label("free")).where(
                    Product.id == product_id
                )
            ).first()
        if product is None:
            raise NotFound(PRODUCT_NOT_FOUND, code=CartErrorCode.PRODUCT_NOT_FOUND)
        guest_tokens = None
        if user_id is None:
            # A new guest has no line yet: when too few units are free now, refuse before
            # creating anybody (the reservation below is still the real check).
            if product.free < quantity:
                raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)
            guest = _create_guest(session)
            cart = create_cart(user_id=guest.id)
            session.flush()
            guest_tokens = start_session(user=guest)
        else:
            cart = _lock_or_create_cart(session, user_id=user_id)
        ensure_cart_editable(cart, session)
        line = session.scalars(
            select(CartProduct)
            .where(CartProduct.cart_id == cart.id, CartProduct.product_id == product_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if line is None:
            lines_held = session.scalar(
                select(func.count()).select_from(CartProduct).where(CartProduct.cart_id == cart.id)
            )
            if lines_held >= max_lines_per_cart():
                raise AppError(
                    f"Your cart can hold at most {max_lines_per_cart()} different products",
                    code=CartErrorCode.CART_FULL,
                )
            if not _reserve(session, product_id=product_id, units=quantity):
                raise AppError(OUT_OF_STOCK_ON_ADD, code=CartErrorCode.OUT_OF_STOCK)
            line = CartProduct(cart_id=cart.id, product_id=product_id, quantity=quantity)
            session.add(line)
        else:
            _set_line_quantity(session, line, quantity, out_of_stock=OUT_OF_STOCK_ON_ADD)
        cart.last_added_at = utcnow()
        session.flush()
        result = AddToCartResult(line=_as_line(line), guest_tokens=guest_tokens)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return result


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
