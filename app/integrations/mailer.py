"""Sending email: Mailgun's HTTP API, or the log (console backend). The only module that
talks to Mailgun."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from flask import current_app

log = logging.getLogger(__name__)


class MailerError(Exception):
    """Sending failed; `permanent` errors are not worth retrying (bad address, bad key)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    tag: str | None = None


def _single_line(value: str) -> str:
    """Header values never carry line breaks (no header injection)."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def send(message: EmailMessage) -> str | None:
    """Send one message; return the provider's message id. Raises MailerError."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "console":
        log.info(
            "email (console backend)\nTo: %s\nSubject: %s\n\n%s",
            _single_line(message.to),
            _single_line(message.subject),
            message.text,
        )
        return None
    return _send_mailgun(message)


def _send_mailgun(message: EmailMessage) -> str | None:
    config = current_app.config
    domain = config["MAILGUN_DOMAIN_NAME"]
    url = f"{config['MAILGUN_API_BASE'].rstrip('/')}/v3/{domain}/messages"
    data = {
        "from": _single_line(config["MAILGUN_SENDER_EMAIL"]),
        "to": _single_line(message.to),
        "subject": _single_line(message.subject),
        "text": message.text,
    }
    if message.html:
        data["html"] = message.html
    if message.reply_to:
        data["h:Reply-To"] = _single_line(message.reply_to)
    if message.tag:
        data["o:tag"] = _single_line(message.tag)
    try:
        response = requests.post(
            url,
            auth=("api", config["MAILGUN_API_KEY"] or ""),
            data=data,
            timeout=config["MAILGUN_TIMEOUT_SECONDS"],
        )
    except requests.RequestException as exc:
        raise MailerError(f"Mailgun unreachable: {exc.__class__.__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise MailerError(f"Mailgun answered {response.status_code}")
    if response.status_code >= 400:
        raise MailerError(f"Mailgun refused the message ({response.status_code})", permanent=True)
    try:
        return response.json().get("id")
    except ValueError:
        return None
