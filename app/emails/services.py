"""Recording emails in the outbox, in the caller's transaction.

queue_email() renders the message and adds an outbox row; nothing is sent until the
transaction commits, after which the row's id is handed to the send task. If the broker is
down at that moment the row stays unsent and the relay task picks it up later.
"""

from __future__ import annotations

import logging

from flask import current_app, render_template
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.emails.models import OutboxEmail
from app.extensions import db

log = logging.getLogger(__name__)

_PENDING_KEY = "outbox_pending_ids"


def queue_email(
    *,
    kind: str,
    to: str,
    subject: str,
    template: str,
    context: dict,
    reply_to: str | None = None,
) -> OutboxEmail:
    """Render `templates/email/<template>.{txt,html}` and add it to the outbox (writes one row
    in the current transaction; sent after commit)."""
    shop = {"shop_name": current_app.config.get("SHOP_NAME", "Shop")}
    text_body = render_template(f"email/{template}.txt", **shop, **context)
    html_body = render_template(f"email/{template}.html", **shop, **context)
    email = OutboxEmail(
        kind=kind,
        to_address=to,
        reply_to=reply_to,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
    )
    db.session.add(email)
    return email


def dispatch(email_ids: list[int]) -> None:
    """Hand committed outbox rows to the send task. A broker failure only delays them."""
    # The Celery app of *this* Flask app decides whether the task runs in-process (eager).
    celery = current_app.extensions["celery"]
    for email_id in email_ids:
        try:
            celery.tasks["app.emails.tasks.send_outbox_email"].apply_async(args=[email_id])
        except Exception as exc:  # broker down: the relay task will send it later
            log.warning(
                "email %s queued in the outbox; task not dispatched (%s)",
                email_id,
                exc.__class__.__name__,
            )


@event.listens_for(Session, "after_flush")
def _collect_outbox_ids(session, flush_context):
    new_ids = [obj.id for obj in session.new if isinstance(obj, OutboxEmail)]
    if new_ids:
        session.info.setdefault(_PENDING_KEY, []).extend(new_ids)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session):
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        dispatch(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
