"""Logging: JSON (or text) lines on stdout, each with the request id and user id, and the
task id and name inside Celery tasks. Every request is logged once (`app.access`, written by
app.core.edge) with its method, path, status and duration.

Celery would replace the root logger's handlers with its own when a worker or beat starts;
handling its `setup_logging` signal keeps ours, so workers log the same JSON lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from celery import current_task
from celery.signals import setup_logging
from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
            identity = request.environ.get("shop.identity")
            user_id = getattr(identity, "user_id", None)
            record.user_id = user_id if user_id is not None else _user_id(g.get("auth_user"))
        else:
            record.request_id = getattr(record, "request_id", "-")
            record.user_id = getattr(record, "user_id", None)
        task = current_task
        if task and task.request.id and not hasattr(record, "task_id"):
            record.task_id = task.request.id
            record.task_name = task.name
        return True


def _user_id(user) -> int | None:
    """The user's id without touching the database: after a failed commit the object is
    expired, and reloading it while the database is down would turn a 503 into a 500."""
    if user is None:
        return None
    try:
        identity = sa_inspect(user).identity
    except NoInspectionAvailable:
        return getattr(user, "id", None)
    return identity[0] if identity else None


@setup_logging.connect
def _keep_shop_logging(loglevel=None, **_):
    """The handler installed by configure_logging() stays; only the level follows the
    worker's --loglevel."""
    if loglevel:
        logging.getLogger().setLevel(loglevel)


class TextFormatter(logging.Formatter):
    """Human-readable lines; inside a task the task id stands where the request id would."""

    def format(self, record: logging.LogRecord) -> str:
        task_id = getattr(record, "task_id", None)
        if task_id and record.request_id == "-":
            record.request_id = f"task {task_id}"
        return super().format(record)


# Attributes every LogRecord has; anything else on a record came from `extra=` or our filter.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id", "user_id"}


_JSON = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, user_id, then every
    field passed with `extra=` (and task_id/task_name inside tasks), then the traceback.

    Written here rather than taken from a generic library because the access log formats a
    line on every request, and a generic formatter costs several times more."""

    def __init__(self) -> None:
        super().__init__()
        # (second, its text), replaced whole so that threads never see half an update.
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """As logging's default ("2026-11-25 09:30:00,123", local time), with the part up to
        the second formatted once per second rather than once per line."""
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = (second, time.strftime(self.default_time_format, self.converter(second)))
            self._second = cached
        return f"{cached[1]},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "user_id": getattr(record, "user_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return _JSON.encode(entry)


def configure_logging(app: Flask) -> None:
    level = app.config.get("LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stdout)
    if app.config.get("LOG_FORMAT") == "json":
        formatter = JsonFormatter()
    else:
        formatter = TextFormatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
        )
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    # Neither format shows the file and line a message came from, so logging need not look
    # them up on every call (logging's documented switch for that).
    logging._srcfile = None
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_shop_handler", False):
            root.removeHandler(existing)
    handler._shop_handler = True
    root.addHandler(handler)
    root.setLevel(level)
    # Every process imports alembic; its plugin list at INFO is noise on each start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
