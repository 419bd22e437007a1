"""Logging: JSON (or text) lines on stdout, each with the request id and user id, and the
task id and name inside Celery tasks. Every request is logged once (`app.access`) with its
method, path, status and duration.

Celery would replace the root logger's handlers with its own when a worker or beat starts;
handling its `setup_logging` signal keeps ours, so workers log the same JSON lines.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid

from celery import current_task
from celery.signals import setup_logging
from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable

REQUEST_ID_HEADER = "X-Request-ID"


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
            record.user_id = _user_id(g.get("auth_user"))
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


def configure_logging(app: Flask) -> None:
    level = app.config.get("LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stdout)
    if app.config.get("LOG_FORMAT") == "json":
        from pythonjsonlogger.json import JsonFormatter

        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = TextFormatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
        )
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_shop_handler", False):
            root.removeHandler(existing)
    handler._shop_handler = True
    root.addHandler(handler)
    root.setLevel(level)
    # Every process imports alembic; its plugin list at INFO is noise on each start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    access = logging.getLogger("app.access")

    @app.before_request
    def _start_request():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        valid = 0 < len(incoming) <= 128 and incoming.replace("-", "").isalnum()
        g.request_id = incoming if valid else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        access.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response
