"""Tasks that deliver the outbox: one email per task, plus a periodic relay for stragglers."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.task_lock import single_instance
from app.emails.models import OutboxEmail
from app.extensions import db
from app.integrations import mailer

log = logging.getLogger(__name__)

# An unsent email older than this is assumed lost by the broker and queued again.
RELAY_AFTER = timedelta(minutes=2)


def _lock_unsent(session: Session, email_id: int) -> OutboxEmail | None:
    statement = select(OutboxEmail).where(OutboxEmail.id == email_id, OutboxEmail.sent_at.is_(None))
    if session.bind.dialect.name == "postgresql":
        # A second task for the same email skips it instead of sending it twice.
        statement = statement.with_for_update(skip_locked=True)
    return session.scalars(statement).first()


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def send_outbox_email(self, email_id: int) -> str:
    """Send outbox email `email_id` unless it was already sent. Side effects: one Mailgun
    call; marks the row sent, or records the failure and retries with exponential backoff."""
    config = current_app.config
    with Session(db.engine) as session:
        email = _lock_unsent(session, email_id)
        if email is None:
            return "skipped"
        message = mailer.EmailMessage(
            to=email.to_address,
            subject=email.subject,
            text=email.text_body,
            html=email.html_body,
            reply_to=email.reply_to,
            tag=email.kind,
        )
        email.attempts += 1
        email.last_attempt_at = utcnow()
        try:
            provider_id = mailer.send(message)
        except mailer.MailerError as exc:
            email.last_error = str(exc)[:500]
            session.commit()
            log.warning("email %s not sent (attempt %s): %s", email_id, email.attempts, exc)
            if exc.permanent or self.request.is_eager:
                # Eager mode (no broker) leaves it to the relay instead of blocking a request.
                return "failed"
            if self.request.retries >= config["EMAIL_MAX_RETRIES"]:
                return "gave up; the relay will try again"
            countdown = config["EMAIL_RETRY_BACKOFF_SECONDS"] * (2 ** self.request.retries)
            raise self.retry(countdown=min(countdown, 3600)) from exc
        email.sent_at = utcnow()
        email.provider_message_id = provider_id
        email.last_error = None
        session.commit()
        log.info("email %s sent (%s)", email_id, email.kind)
        return "sent"


@shared_task(ignore_result=True)
@single_instance(timeout=120)
def relay_outbox_emails(limit: int = 200) -> int | None:
    """Queue again every unsent email that nobody has tried recently (the broker was down,
    or the worker died). One run at a time across workers. Side effect: dispatches send
    tasks; returns how many (None when another run held the lock)."""
    from app.emails.services import dispatch

    cutoff = utcnow() - RELAY_AFTER
    with Session(db.engine) as session:
        ids = session.scalars(
            select(OutboxEmail.id)
            .where(
                OutboxEmail.sent_at.is_(None),
                OutboxEmail.created_at < cutoff,
                (OutboxEmail.last_attempt_at.is_(None)) | (OutboxEmail.last_attempt_at < cutoff),
            )
            .order_by(OutboxEmail.id)
            .limit(limit)
        ).all()
    dispatch(list(ids))
    if ids:
        log.info("relayed %s unsent emails", len(ids))
    return len(ids)
