"""Checkout reconciliation with Stripe."""

from __future__ import annotations

import logging

from celery import shared_task

from app.core.task_lock import single_instance
from app.orders import checkout

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
@single_instance(timeout=900)
def reconcile_checkouts() -> dict:
    """Complete paid Stripe sessions that have no order (lost webhooks) and close expired
    ones that still lock a cart. Side effects: Stripe list/retrieve calls; orders, stock,
    carts and emails as the completion path does. Returns what it fixed."""
    return checkout.reconcile()
