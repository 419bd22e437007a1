"""Deleting old guest accounts."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.cart.models import Cart
from app.cart.services import release_cart_lines
from app.core.db import utcnow
from app.core.task_lock import single_instance
from app.extensions import db

log = logging.getLogger(__name__)

BATCH_SIZE = 200


def delete_old_guests(*, batch_size: int = BATCH_SIZE, max_batches: int = 1000) -> int:
    """Delete guests older than DELETE_GUEST_USERS_DAYS, a batch per transaction: their cart
    reservations are released first, their orders stay (user link cleared by the database).
    Guests whose cart is locked by an open checkout wait for a later run. Rows are claimed
    with SKIP LOCKED, so two runs at once share the work instead of doing it twice, and a run
    killed halfway loses at most its current, uncommitted batch. Returns how many went."""
    cutoff = utcnow() - timedelta(days=current_app.config["DELETE_GUEST_USERS_DAYS"])
    deleted = 0
    for _ in range(max_batches):
        with Session(db.engine) as session:
            claim = (
                select(User.id)
                .outerjoin(Cart, Cart.user_id == User.id)
                .where(User.role == Role.GUEST, User.created_at < cutoff, Cart.locked_at.is_(None))
                .order_by(User.id)
                .limit(batch_size)
            )
            if session.bind.dialect.name == "postgresql":
                claim = claim.with_for_update(of=User, skip_locked=True)
            guest_ids = session.scalars(claim).all()
            if not guest_ids:
                break
            cart_ids = session.scalars(select(Cart.id).where(Cart.user_id.in_(guest_ids))).all()
            for cart_id in cart_ids:
                release_cart_lines(cart_id=cart_id, session=session)
            session.execute(delete(User).where(User.id.in_(guest_ids)))
            session.commit()
            deleted += len(guest_ids)
    if deleted:
        log.info("deleted %s old guest accounts", deleted)
    return deleted


@shared_task(acks_late=True, ignore_result=True)
@single_instance(timeout=900)
def delete_old_guest_accounts() -> int:
    """Periodic (RedBeat, every 15 minutes): see delete_old_guests()."""
    return delete_old_guests()
