"""Checkout and payment: the snapshot, the Stripe session, and the one path that turns a
paid session into an order.

Rules (docs/decisions/0004-checkout-snapshots.md):
- checkout takes a snapshot of the cart (lines, unit prices, address, email) and locks the
  cart; the paid order is built from the snapshot, never from the live cart;
- a locked cart changes only after its open Stripe session is expired; if Stripe says the
  session was paid meanwhile, the order is completed instead and the change refused;
- complete_paid_session() is idempotent: the snapshot row lock and the unique session id
  make any number of concurrent calls (webhooks, success-page polls, reconciliation) yield
  one order, and only when Stripe's amount matches the snapshot to the penny.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import User
from app.cart.models import Cart, CartProduct
from app.catalog.models import Product, ProductImage
from app.core.db import utcnow
from app.core.errors import AppError, ServiceUnavailable
from app.emails.services import queue_email
from app.extensions import db
from app.integrations import payments
from app.orders.errors import OrderErrorCode
from app.orders.models import CheckoutSession, CheckoutStatus, Order, OrderItem, OrderStatus

log = logging.getLogger(__name__)

# Stripe's minimum is 30 minutes from when it receives the request; a minute of margin
# keeps the request valid however long it takes to get there.
SESSION_LIFETIME = timedelta(minutes=31)
PENNY = Decimal("0.01")


def pence(amount: Decimal) -> int:
    return int((amount / PENNY).to_integral_value())


@dataclass(frozen=True)
class CheckoutAddress:
    full_name: str
    address_line_1: str
    address_line_2: str | None
    city: str
    postcode: str


# --- locking the cart while a session is open ----------------------------------------------


def _open_snapshot(session: Session, cart_id: int) -> CheckoutSession | None:
    return session.scalars(
        select(CheckoutSession)
        .where(CheckoutSession.cart_id == cart_id, CheckoutSession.status == CheckoutStatus.OPEN)
        .order_by(CheckoutSession.id.desc())
        .with_for_update()
    ).first()


def close_open_checkout(*, cart: Cart, session: Session | None = None) -> None:
    """Before a locked cart changes: expire its open Stripe session and unlock it (in the
    caller's transaction; the caller holds the cart row lock). If Stripe reports the session
    paid, the order is completed and committed, and the change is refused."""
    session = session if session is not None else db.session
    if cart.locked_at is None:
        return
    snapshot = _open_snapshot(session, cart.id)
    if snapshot is not None and snapshot.stripe_session_id:
        try:
            info = payments.expire_session(snapshot.stripe_session_id)
        except payments.PaymentsError as exc:
            raise ServiceUnavailable(
                "Your checkout is still open and could not be cancelled. Please try again shortly.",
                code=OrderErrorCode.CHECKOUT_BUSY,
            ) from exc
        if info.is_paid:
            order = complete_in_transaction(session, info, snapshot=snapshot)
            session.commit()
            after_order_commit(order)
            raise AppError(
                "Your payment for this basket has already gone through: the order has been placed.",
                code=OrderErrorCode.CHECKOUT_ALREADY_PAID,
            )
        _mark_expired(snapshot)
    cart.locked_at = None


def _mark_expired(snapshot: CheckoutSession) -> None:
    snapshot.status = CheckoutStatus.EXPIRED
    snapshot.closed_at = utcnow()


# --- starting a checkout -------------------------------------------------------------------


def _idempotency_key(snapshot: CheckoutSession) -> str:
    digest = hashlib.sha256(
        json.dumps(
            {"id": snapshot.id, "items": snapshot.items, "total": str(snapshot.total)}, sort_keys=True
        ).encode()
    ).hexdigest()[:32]
    return f"checkout-{snapshot.id}-{digest}"


def _stock_problem(line: CartProduct, product: Product) -> str | None:
    if line.quantity > product.stock:
        return f"{product.name} only has {product.stock} left in stock"
    if product.reserved_stock > product.stock:
        free = max(product.stock - (product.reserved_stock - line.quantity), 0)
        return f"{product.name} only has {free} available (reserved stock in use)"
    return None


def start_checkout(*, user: User, address: CheckoutAddress) -> str:
    """Snapshot the cart, create the Stripe Checkout Session and lock the cart (one
    transaction; one Stripe call, plus one to expire a previous open session). Returns the
    Stripe session id."""
    if not all((address.full_name, address.address_line_1, address.city, address.postcode)):
        raise AppError("Address not provided", code=OrderErrorCode.ADDRESS_MISSING)
    if not payments.is_configured():
        raise ServiceUnavailable(payments.NOT_CONFIGURED_MESSAGE)
    session = db.session
    try:
        cart = session.scalars(
            select(Cart).where(Cart.user_id == user.id).with_for_update().execution_options(populate_existing=True)
        ).first()
        if cart is None:
            raise AppError("Cart is empty", code=OrderErrorCode.CART_EMPTY)
        # Starting again while a session is open (the customer pressed back on Stripe).
        close_open_checkout(cart=cart, session=session)
        rows = session.execute(
            select(CartProduct, Product, ProductImage.image_path)
            .join(Product, Product.id == CartProduct.product_id)
            .outerjoin(ProductImage, ProductImage.product_id == Product.id)
            .where(CartProduct.cart_id == cart.id)
            .order_by(CartProduct.id)
        ).all()
        if not rows:
            raise AppError("Cart is empty", code=OrderErrorCode.CART_EMPTY)
        for line, product, _image in rows:
            problem = _stock_problem(line, product)
            if problem:
                raise AppError(problem, code=OrderErrorCode.INSUFFICIENT_STOCK)
        items = [
            {
                "product_id": product.id,
                "name": product.name,
                "unit_price": str(product.price),
                "quantity": line.quantity,
                "image_path": image,
            }
            for line, product, image in rows
        ]
        total = sum((product.price * line.quantity for line, product, _ in rows), Decimal("0"))
        now = utcnow()
        snapshot = CheckoutSession(
            user_id=user.id,
            cart_id=cart.id,
            status=CheckoutStatus.OPEN,
            email=user.email,
            full_name=address.full_name,
            address_line_1=address.address_line_1,
            address_line_2=address.address_line_2 or None,
            city=address.city,
            postcode=address.postcode,
            items=items,
            total=total,
            currency=current_app.config["STRIPE_CURRENCY"],
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
        session.add(snapshot)
        session.flush()
        public = current_app.config["FRONTEND_PUBLIC_URL"].rstrip("/")
        try:
            info = payments.create_checkout_session(
                lines=[
                    payments.CheckoutLine(
                        name=item["name"],
                        unit_amount=pence(Decimal(item["unit_price"])),
                        quantity=item["quantity"],
                        image_url=f"https://storage.googleapis.com/{item['image_path']}" if item["image_path"] else None,
                    )
                    for item in items
                ],
                success_url=f"{public}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{public}/checkout/cancel",
                expires_at=snapshot.expires_at,
                metadata={
                    "checkout_id": str(snapshot.id),
                    "user_id": str(user.id),
                    "full_name": address.full_name,
                    "address_line_1": address.address_line_1,
                    "address_line_2": address.address_line_2 or "",
                    "city": address.city,
                    "postcode": address.postcode,
                },
                idempotency_key=_idempotency_key(snapshot),
                customer_email=user.email,
                customer_id=user.stripe_customer_id,
            )
        except payments.PaymentsError as exc:
            raise AppError(
                "Failed to create Stripe checkout session", code=OrderErrorCode.CHECKOUT_FAILED
            ) from exc
        snapshot.stripe_session_id = info.id
        cart.locked_at = now
        session.commit()
        return info.id
    except Exception:
        session.rollback()
        raise


# --- completing a paid session -------------------------------------------------------------


def complete_in_transaction(session: Session, info: payments.CheckoutSessionInfo, *, snapshot: CheckoutSession | None = None) -> Order | None:
    """Build the order of a paid session from its snapshot, in the caller's transaction.
    Returns the order (new or already existing), or None when there is nothing to build."""
    if not info.is_paid:
        return None
    if snapshot is None:
        snapshot = session.scalars(
            select(CheckoutSession).where(CheckoutSession.stripe_session_id == info.id).with_for_update()
        ).first()
    if snapshot is None:
        log.error("paid checkout session %s has no snapshot; no order created", info.id)
        return None
    existing = session.scalars(select(Order).where(Order.stripe_session_id == info.id)).first()
    if existing is not None:
        return existing
    expected = pence(snapshot.total)
    if info.amount_total != expected or (info.currency or "").lower() != snapshot.currency.lower():
        log.error(
            "checkout session %s paid %s %s but the snapshot says %s %s; no order created",
            info.id, info.amount_total, info.currency, expected, snapshot.currency,
            extra={"alert": "payment_amount_mismatch", "checkout_id": snapshot.id},
        )
        return None

    cart = None
    if snapshot.cart_id is not None:
        cart = session.scalars(select(Cart).where(Cart.id == snapshot.cart_id).with_for_update()).first()
    items = sorted(snapshot.items, key=lambda item: item["product_id"] or 0)
    for item in items:
        _take_stock(session, cart, item)

    user = session.get(User, snapshot.user_id) if snapshot.user_id else None
    order = Order(
        user_id=user.id if user else None,
        checkout_session_id=snapshot.id,
        stripe_session_id=info.id,
        customer_email=info.customer_email or snapshot.email,
        full_name=snapshot.full_name,
        address_line_1=snapshot.address_line_1,
        address_line_2=snapshot.address_line_2,
        city=snapshot.city,
        postcode=snapshot.postcode,
        total_price=snapshot.total,
        status=OrderStatus.PROCESSING,
    )
    existing_products = set(
        session.scalars(select(Product.id).where(Product.id.in_([i["product_id"] for i in items if i["product_id"]])))
    )
    for item in snapshot.items:
        order.items.append(
            OrderItem(
                product_id=item["product_id"] if item["product_id"] in existing_products else None,
                name=item["name"],
                price=Decimal(item["unit_price"]),
                quantity=item["quantity"],
            )
        )
    session.add(order)
    snapshot.status = CheckoutStatus.COMPLETED
    snapshot.closed_at = utcnow()
    if cart is not None and cart.locked_at is not None and _open_snapshot(session, cart.id) in (None, snapshot):
        cart.locked_at = None
    if user is not None and info.customer_id and not user.stripe_customer_id:
        user.stripe_customer_id = info.customer_id
    session.flush()
    if order.customer_email:
        _queue_confirmation(order, snapshot)
    order._created_now = True
    return order


def _take_stock(session: Session, cart: Cart | None, item: dict) -> None:
    """Sell `item`: stock goes down by its quantity and the cart line's reservation is
    released and the line removed (or reduced, if the cart holds more)."""
    product_id, quantity = item["product_id"], item["quantity"]
    if product_id is None:
        return
    released = 0
    if cart is not None:
        line = session.scalars(
            select(CartProduct).where(CartProduct.cart_id == cart.id, CartProduct.product_id == product_id).with_for_update()
        ).first()
        if line is not None:
            released = min(line.quantity, quantity)
            if line.quantity > released:
                line.quantity -= released
            else:
                session.execute(delete(CartProduct).where(CartProduct.id == line.id))
    sold = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock - quantity >= Product.reserved_stock - released)
        .values(stock=Product.stock - quantity, reserved_stock=Product.reserved_stock - released)
        .execution_options(synchronize_session=False)
    ).rowcount
    if sold == 0 and session.get(Product, product_id) is not None:
        # The reservation that should have covered this sale is gone: the customer has paid,
        # so the order stands, stock stops at what is still reserved, and the admin is told.
        log.critical(
            "product %s sold %s units beyond its free stock", product_id, quantity,
            extra={"alert": "stock_shortfall", "product_id": product_id},
        )
        session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(
                reserved_stock=Product.reserved_stock - released,
                stock=case(
                    (Product.stock - quantity >= Product.reserved_stock - released, Product.stock - quantity),
                    else_=Product.reserved_stock - released,
                ),
            )
            .execution_options(synchronize_session=False)
        )


def _queue_confirmation(order: Order, snapshot: CheckoutSession) -> None:
    items = [
        {
            "name": item["name"],
            "quantity": item["quantity"],
            "unit_price": Decimal(item["unit_price"]),
            "line_total": Decimal(item["unit_price"]) * item["quantity"],
        }
        for item in snapshot.items
    ]
    queue_email(
        kind="order_confirmation",
        to=order.customer_email,
        subject=f"Your order #{order.id} is confirmed",
        template="order_confirmation",
        context={"order": order, "items": items, "total": order.total_price},
    )


def after_order_commit(order: Order | None) -> None:
    """After the commit of a new order: the catalogue shows the new stock. (The order
    counters were updated in the order's own transaction: app/orders/stats.py.)"""
    if order is not None and getattr(order, "_created_now", False):
        from app.catalog.cache import bump_catalog_version

        bump_catalog_version()


def complete_paid_session(*, info: payments.CheckoutSessionInfo) -> Order | None:
    """The one completion path (webhook, success page, reconciliation): idempotent, commits.
    Side effects: order and items, stock and reservations, cart emptied and unlocked, the
    confirmation email queued, the order counters (app/orders/stats.py)."""
    session = db.session
    try:
        order = complete_in_transaction(session, info)
        session.commit()
    except IntegrityError:
        # Another process completed the same session between our check and our insert.
        session.rollback()
        return session.scalars(select(Order).where(Order.stripe_session_id == info.id)).first()
    except Exception:
        session.rollback()
        raise
    after_order_commit(order)
    return order


def close_expired_in_transaction(session: Session, info: payments.CheckoutSessionInfo) -> bool:
    """Stripe expired (or failed) a session: mark the snapshot and unlock its cart, in the
    caller's transaction. The reservation stays with the cart until the stale-cart rules
    release it."""
    snapshot = session.scalars(
        select(CheckoutSession).where(CheckoutSession.stripe_session_id == info.id).with_for_update()
    ).first()
    if snapshot is None or snapshot.status != CheckoutStatus.OPEN:
        return False
    _mark_expired(snapshot)
    if snapshot.cart_id is not None:
        cart = session.scalars(select(Cart).where(Cart.id == snapshot.cart_id).with_for_update()).first()
        if cart is not None and cart.locked_at is not None and _open_snapshot(session, cart.id) is None:
            cart.locked_at = None
    return True


def close_expired_session(*, info: payments.CheckoutSessionInfo) -> bool:
    """_close_expired in its own transaction (commits)."""
    session = db.session
    try:
        closed = close_expired_in_transaction(session, info)
        session.commit()
        return closed
    except Exception:
        session.rollback()
        raise


def confirm_session_for_user(*, user_id: int, session_id: str) -> bool:
    """Success-page poll: does the caller's order for this session exist? If not yet, ask
    Stripe and complete it here when paid (the webhook may be late or lost)."""
    session = db.session
    if session.scalar(select(Order.id).where(Order.stripe_session_id == session_id, Order.user_id == user_id)):
        return True
    owned = session.scalar(
        select(CheckoutSession.id).where(
            CheckoutSession.stripe_session_id == session_id, CheckoutSession.user_id == user_id
        )
    )
    session.rollback()
    if owned is None:
        return False
    try:
        info = payments.retrieve_session(session_id)
    except payments.PaymentsError:
        return False
    if info is None or not info.is_paid:
        return False
    order = complete_paid_session(info=info)
    return order is not None and order.user_id == user_id


def reconcile(*, lookback: timedelta = timedelta(days=2)) -> dict[str, int]:
    """Compare recent Stripe sessions with our books: complete paid sessions that have no
    order, close expired ones that still lock a cart. Returns what it fixed."""
    fixed = {"orders_completed": 0, "checkouts_closed": 0, "sessions_seen": 0}
    now = utcnow()
    for info in payments.list_recent_sessions(created_after=now - lookback):
        if "checkout_id" not in info.metadata:
            continue  # not one of this shop's checkouts (the Stripe account may be shared)
        fixed["sessions_seen"] += 1
        if info.is_paid:
            has_order = db.session.scalar(select(Order.id).where(Order.stripe_session_id == info.id))
            db.session.rollback()
            if has_order is None and complete_paid_session(info=info) is not None:
                fixed["orders_completed"] += 1
        elif info.status == "expired" and close_expired_session(info=info):
            fixed["checkouts_closed"] += 1
    # Open snapshots well past their expiry that the listing did not settle.
    stale = db.session.scalars(
        select(CheckoutSession.stripe_session_id).where(
            CheckoutSession.status == CheckoutStatus.OPEN,
            CheckoutSession.expires_at < now - timedelta(minutes=5),
            CheckoutSession.stripe_session_id.is_not(None),
        ).limit(200)
    ).all()
    db.session.rollback()
    for session_id in stale:
        info = payments.retrieve_session(session_id)
        if info is None:
            continue
        if info.is_paid:
            if complete_paid_session(info=info) is not None:
                fixed["orders_completed"] += 1
        elif info.status == "expired" and close_expired_session(info=info):
            fixed["checkouts_closed"] += 1
    if fixed["orders_completed"] or fixed["checkouts_closed"]:
        log.warning("checkout reconciliation fixed %s", fixed)
    return fixed
