"""Order history, the admin's order views and status changes, and Stripe webhook events.

Checkout and the completion path live in app/orders/checkout.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from itertools import chain
from urllib.parse import urlsplit

from sqlalchemy import event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.admin import audit
from app.auth.models import User
from app.catalog.models import ProductImage
from app.core.db import is_row_id
from app.core.errors import AppError, NotFound
from app.core.invalidation import note_changed
from app.core.pagination import Page, paginate
from app.emails.services import queue_email
from app.extensions import db
from app.integrations import payments
from app.orders import checkout, stats
from app.orders.errors import OrderErrorCode
from app.orders.models import SHOP_TIME_ZONE, Order, OrderItem, OrderStatus, StripeEvent

log = logging.getLogger(__name__)

COMPLETING_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
CLOSING_EVENTS = frozenset({"checkout.session.expired", "checkout.session.async_payment_failed"})

ALLOWED_TRANSITIONS = {
    OrderStatus.PROCESSING: {OrderStatus.SHIPPED},
    # Shipped again: a corrected tracking link, sent to the customer again.
    OrderStatus.SHIPPED: {OrderStatus.SHIPPED, OrderStatus.DELIVERED},
    OrderStatus.DELIVERED: set(),
}


def orders_of_tag(user_id: int) -> str:
    return f"orders-of:{user_id}"


def order_tag(order_id: int) -> str:
    return f"order:{order_id}"


@event.listens_for(Session, "after_flush")
def _announce_order_changes(session: Session, _context) -> None:
    """Pages kept per order or per customer (app.core.response_cache) are announced obsolete
    after the commit of any change to an order or its items."""
    for row in chain(session.new, session.dirty, session.deleted):
        if isinstance(row, OrderItem):
            note_changed(session, order_tag(row.order_id))
        elif isinstance(row, Order):
            note_changed(session, order_tag(row.id))
            owners = {row.user_id, *sa_inspect(row).attrs.user_id.history.deleted}
            for owner in owners - {None}:
                note_changed(session, orders_of_tag(owner))


def order_date(order: Order) -> str:
    """The calendar date of the order in the shop's time zone (UK)."""
    return order.created_at.astimezone(SHOP_TIME_ZONE).date().isoformat()


def order_dict(order: Order) -> dict:
    return {
        "id": order.id,
        "order_date": order_date(order),
        "total_price": order.total_price,
        "status": order.status,
        "full_name": order.full_name,
        "address_line_1": order.address_line_1,
        "address_line_2": order.address_line_2,
        "city": order.city,
        "postcode": order.postcode,
        "customer_email": order.customer_email,
        "tracking_url": order.tracking_url,
        "user_id": order.user_id,
    }


def _items_by_order(order_ids: list[int]) -> dict[int, list[dict]]:
    """Every item of these orders with its product's current image: one statement."""
    grouped: dict[int, list[dict]] = defaultdict(list)
    if not order_ids:
        return grouped
    rows = db.session.execute(
        select(OrderItem, ProductImage.image_path)
        .outerjoin(ProductImage, ProductImage.product_id == OrderItem.product_id)
        .where(OrderItem.order_id.in_(order_ids))
        .order_by(OrderItem.order_id, OrderItem.id)
    ).all()
    for item, image_path in rows:
        grouped[item.order_id].append(
            {
                "quantity": item.quantity,
                "name": item.name,
                "price": item.price,
                "product_image": image_path,
                "product_id": item.product_id,
                "order_id": item.order_id,
            }
        )
    return grouped


def orders_with_items(orders: list[Order]) -> list[dict]:
    items = _items_by_order([order.id for order in orders])
    return [{"order": order_dict(order), "order_items": items.get(order.id, [])} for order in orders]


def _newest_first(statement):
    return statement.order_by(Order.created_at.desc(), Order.id.desc())


def list_customer_orders(*, user_id: int, page: int, per_page: int) -> dict:
    """The caller's orders, newest first, with their items (three statements)."""
    result = paginate(
        _newest_first(select(Order).where(Order.user_id == user_id)),
        page=page, per_page=per_page, scalars=True,
    )
    return result.envelope("orders", orders_with_items(result.items))


def list_user_orders_for_admin(*, user_id: int, page: int, per_page: int) -> dict:
    if not is_row_id(user_id) or db.session.get(User, user_id) is None:
        raise NotFound("User not found", code=OrderErrorCode.USER_NOT_FOUND)
    return list_customer_orders(user_id=user_id, page=page, per_page=per_page)


def list_orders_for_admin(*, page: int, per_page: int, status: str | None) -> dict:
    """Every order, newest first, optionally of one status (two statements: the total from
    the order counters, which costs the same at any number of orders, and the page)."""
    statement = select(Order).order_by(Order.id.desc())
    if status:  # None or "" lists every order
        statement = statement.where(Order.status == status)
    total = stats.order_count(db.session, status=status or None)
    items = list(db.session.scalars(statement.limit(per_page).offset((page - 1) * per_page)))
    result = Page(items=items, total=total, page=page, per_page=per_page)
    rows = [
        {
            "id": order.id,
            "order_date": order_date(order),
            "total_price": order.total_price,
            "status": order.status,
            "full_name": order.full_name,
        }
        for order in result.items
    ]
    return result.envelope("orders", rows)


def get_order_for_admin(*, order_id: int) -> dict:
    """One order with its items and the ordering account's current name."""
    order = db.session.get(Order, order_id) if is_row_id(order_id) else None
    if order is None:
        raise NotFound("Order not found", code=OrderErrorCode.ORDER_NOT_FOUND)
    customer_name = None
    if order.user_id is not None:
        customer_name = db.session.scalar(select(User.full_name).where(User.id == order.user_id))
    return {
        "order": order_dict(order),
        "order_items": _items_by_order([order.id]).get(order.id, []),
        "customer_name": customer_name,
    }


def _check_tracking_url(url: str | None) -> str:
    if not url or not url.strip():
        raise AppError("Tracking URL not provided", code=OrderErrorCode.TRACKING_URL_MISSING)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 300 or any(c.isspace() for c in url):
        raise AppError("Tracking URL must be a valid http(s) link", code=OrderErrorCode.TRACKING_URL_INVALID)
    return url


def update_order_status(*, order_id: int, status: str, tracking_url: str | None) -> Order:
    """Move an order along Processing → Shipped (tracking link required; emails the
    customer) → Delivered; a shipped order may be marked shipped again with a corrected
    link. Commits; the email is queued, and the order counters move, in the same transaction."""
    session = db.session
    try:
        order = (
            session.scalars(select(Order).where(Order.id == order_id).with_for_update()).first()
            if is_row_id(order_id)
            else None
        )
        if order is None:
            raise NotFound("Order not found", code=OrderErrorCode.ORDER_NOT_FOUND)
        if status not in ALLOWED_TRANSITIONS.get(order.status, set()):
            raise AppError(
                f"Cannot change an order from {order.status} to {status}",
                code=OrderErrorCode.INVALID_TRANSITION,
            )
        before = {"status": order.status, "tracking_url": order.tracking_url}
        if status == OrderStatus.SHIPPED:
            order.tracking_url = _check_tracking_url(tracking_url)
            if order.customer_email:
                queue_email(
                    kind="order_shipped",
                    to=order.customer_email,
                    subject=f"Your order #{order.id} is on its way",
                    template="order_shipped",
                    context={"order": order, "full_name": order.full_name, "button_link": order.tracking_url},
                )
        order.status = status
        audit.record(
            action="update", object_type="order", object_id=order.id,
            before=before, after={"status": status, "tracking_url": order.tracking_url},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return order


def handle_webhook(*, payload: bytes, signature: str | None) -> str:
    """Verify and act on one Stripe event, at most once per event id (a repeat, even a
    concurrent one, does nothing and is still answered 2xx). Returns what was done."""
    try:
        event = payments.verify_webhook(payload, signature)
    except payments.WebhookSignatureError as exc:
        raise AppError("Invalid webhook signature or payload", code=OrderErrorCode.WEBHOOK_INVALID) from exc
    event_type = event.get("type")
    event_id = event.get("id")
    data = (event.get("data") or {}).get("object")
    if event_type not in COMPLETING_EVENTS | CLOSING_EVENTS:
        return "Webhook received but no order data processed"
    if not event_id or not isinstance(data, dict) or not data.get("id"):
        raise AppError("Invalid webhook signature or payload", code=OrderErrorCode.WEBHOOK_INVALID)
    session = db.session
    try:
        session.add(StripeEvent(id=event_id, type=event_type))
        session.flush()
    except IntegrityError:
        session.rollback()
        return "Event already processed"
    info = payments.session_info(data)
    try:
        # The event row commits with its effect, in one transaction.
        if event_type in COMPLETING_EVENTS:
            order = checkout.complete_in_transaction(session, info)
            message = "Order created" if order is not None else "No order created"
        else:
            order = None
            message = "Checkout closed" if checkout.close_expired_in_transaction(session, info) else "Nothing to close"
        session.commit()
    except IntegrityError:
        session.rollback()
        return "Event already processed"
    except Exception:
        session.rollback()
        raise
    checkout.after_order_commit(order)
    return message
