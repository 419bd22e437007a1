"""Sending a contact-form message to the shop owner through the email outbox."""

from __future__ import annotations

from email.utils import formataddr

from flask import current_app

from app.core.db import committing
from app.core.errors import ErrorCode, ServiceUnavailable
from app.emails.services import queue_email


def send_contact_message(*, from_name: str, from_email: str, subject: str, message: str) -> None:
    """Queue the visitor's message to CONTACT_US_EMAIL, from the shop's own sender with
    Reply-To set to the visitor (writes one outbox row; sent by a task)."""
    recipient = current_app.config.get("CONTACT_US_EMAIL")
    if not recipient:
        raise ServiceUnavailable(
            "The contact form is not available right now. Please try again later.",
            code=ErrorCode.SERVICE_UNAVAILABLE,
        )
    with committing():
        queue_email(
            kind="contact_us",
            to=recipient,
            # formataddr quotes the name, so it cannot smuggle in another address.
            reply_to=formataddr((from_name, from_email)),
            subject=f"Contact us: {subject}",
            template="contact_us",
            context={"from_name": from_name, "from_email": from_email, "subject": subject, "message": message},
        )
