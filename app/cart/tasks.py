"""Periodic cart housekeeping: empty stale carts, unlock abandoned checkouts, and repair
`products.reserved_stock` should it ever drift from the cart lines.

Each task is safe to run twice at once and safe to kill at any point: every cart (or
product) is handled in its own short transaction under a row lock, and the conditions that
made it a candidate are checked again under that lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from app.cart.models import Cart, CartProduct
from app.cart.services import release_cart_lines
from app.catalog.models import Product
from app.core.db import utcnow
from app.core.invalidation import note_changed, product_tag
from app.core.task_lock import single_instance
from app.extensions import db

log = logging.getLogger(__name__)

BATCH_SIZE = 200


def _stale_cart_filter(cutoff):
    return (
        Cart.locked_at.is_(None),
        func.coalesce(Cart.last_added_at, Cart.created_at) < cutoff,
        exists().where(CartProduct.cart_id == Cart.id),
    )


def _release_one_stale_cart(session: Session, cart_id: int, cutoff) -> int:
    """Empty one cart if it is still stale and nobody else holds it; returns lines released.
    A cart that another run or a shopper's request holds is skipped (SKIP LOCKED): whoever
    holds it is dealing with it."""
    cart = session.scalars(
        select(Cart)
        .where(Cart.id == cart_id, *_stale_cart_filter(cutoff))
        .with_for_update(skip_locked=True)
    ).first()
    if cart is None:
        return 0
    return release_cart_lines(cart_id=cart.id, session=session)


@shared_task(ignore_result=True)
@single_instance(timeout=900)
def release_stale_carts(batch_size: int = BATCH_SIZE) -> dict:
    """Empty every unlocked cart whose last addition is older than
    RESERVED_STOCK_CLEANUP_HOURS and give its reserved units back to stock.

    Side effects: deletes cart lines and lowers products' reserved_stock, one cart per
    transaction. Returns {"carts": n, "lines": m}."""
    cutoff = utcnow() - timedelta(hours=current_app.config["RESERVED_STOCK_CLEANUP_HOURS"])
    carts = lines = 0
    after_id = 0
    with Session(db.engine) as session:
        while True:
            candidates = session.scalars(
                select(Cart.id)
                .where(Cart.id > after_id, *_stale_cart_filter(cutoff))
                .order_by(Cart.id)
                .limit(batch_size)
            ).all()
            session.rollback()
            if not candidates:
                break
            for cart_id in candidates:
                try:
                    released = _release_one_stale_cart(session, cart_id, cutoff)
                    session.commit()
                except Exception:
                    session.rollback()
                    log.exception("stale cart %s not released", cart_id)
                    continue
                if released:
                    carts += 1
                    lines += released
            after_id = candidates[-1]
    if carts:
        log.info("released %s stale carts (%s lines)", carts, lines)
    return {"carts": carts, "lines": lines}


@shared_task(ignore_result=True)
@single_instance(timeout=300)
def unlock_stale_checkouts() -> int:
    """Clear the checkout lock of carts locked longer than CART_UNLOCK_TIME_HOURS (the
    customer abandoned the payment page and no expiry event came). Side effect: one UPDATE
    of carts.locked_at. Returns the number of carts unlocked."""
    cutoff = utcnow() - timedelta(hours=current_app.config["CART_UNLOCK_TIME_HOURS"])
    with Session(db.engine) as session:
        unlocked = session.execute(
            update(Cart)
            .where(Cart.locked_at.is_not(None), Cart.locked_at < cutoff)
            .values(locked_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    if unlocked:
        log.info("unlocked %s carts whose checkout was abandoned", unlocked)
    return unlocked


def _reserved_by_lines(product_id: int):
    return (
        select(func.coalesce(func.sum(CartProduct.quantity), 0))
        .where(CartProduct.product_id == product_id)
        .scalar_subquery()
    )


@shared_task(ignore_result=True)
@single_instance(timeout=1800)
def repair_reserved_stock() -> dict:
    """Recompute every product's reserved_stock as the sum of its cart-line quantities and fix
    any product where they differ, logging each repair.

    A product is re-checked under its row lock before it is fixed: every transaction that
    changes a product's cart-line quantities also updates the product's row before it commits
    (and commits both together), so no such change can commit while the lock is held and the
    sum read under it is settled.
    Side effects: updates products.reserved_stock, one product per transaction. Returns
    {"checked": n, "repaired": m}."""
    line_totals = (
        select(CartProduct.product_id, func.sum(CartProduct.quantity).label("total"))
        .group_by(CartProduct.product_id)
        .subquery()
    )
    checked = repaired = 0
    with Session(db.engine) as session:
        checked = session.scalar(select(func.count()).select_from(Product)) or 0
        suspects = session.scalars(
            select(Product.id)
            .outerjoin(line_totals, line_totals.c.product_id == Product.id)
            .where(Product.reserved_stock != func.coalesce(line_totals.c.total, 0))
            .order_by(Product.id)
        ).all()
        session.rollback()
        for product_id in suspects:
            try:
                row = session.execute(
                    select(Product.reserved_stock, Product.stock)
                    .where(Product.id == product_id)
                    .with_for_update()
                ).first()
                if row is None:
                    session.rollback()
                    continue
                in_lines = session.scalar(select(_reserved_by_lines(product_id)))
                if in_lines == row.reserved_stock:
                    session.rollback()
                    continue
                fixed = min(in_lines, row.stock)
                session.execute(
                    update(Product)
                    .where(Product.id == product_id)
                    .values(reserved_stock=fixed)
                    .execution_options(synchronize_session=False)
                )
                note_changed(session, product_tag(product_id))
                session.commit()
            except Exception:
                session.rollback()
                log.exception("reserved_stock of product %s not repaired", product_id)
                continue
            repaired += 1
            log.warning(
                "repaired reserved_stock of product %s: was %s, cart lines hold %s, now %s",
                product_id,
                row.reserved_stock,
                in_lines,
                fixed,
                extra={"product_id": product_id, "was": row.reserved_stock, "in_lines": in_lines},
            )
            if in_lines > row.stock:
                log.error(
                    "cart lines hold %s units of product %s but only %s are in stock",
                    in_lines,
                    product_id,
                    row.stock,
                )
    log.info("checked reserved_stock of %s products, repaired %s", checked, repaired)
    return {"checked": checked, "repaired": repaired}
