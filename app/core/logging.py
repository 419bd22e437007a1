"""Logging: JSON (or text) lines on stdout, each with the request id and user id, and the
task id and name inside Celery tasks. Every request is logged once (`app.access`, written by
app.core.edge) with its method, path, status and duration.

Access lines wait in memory for up to ACCESS_LOG_FLUSH_SECONDS and are written together
(OutputHandler): one write per request was a fifth of what a cached page costs to serve.

Celery would replace the root logger's handlers with its own when a worker or beat starts;
handling its `setup_logging` signal keeps ours, so workers log the same JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time

from celery import current_task
from celery.signals import setup_logging
from flask import Flask, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable


def request_user_id(environ: dict | None = None, context=None) -> int | None:
    """The id of whoever the current request acts for, as far as it is known yet. A caller
    that holds the request's WSGI environ and its `g` passes them (no proxy lookups)."""
    identity = (request.environ if environ is None else environ).get("shop.identity")
    user_id = getattr(identity, "user_id", None)
    if user_id is not None:
        return user_id
    return _user_id((g if context is None else context).get("auth_user"))


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
            record.user_id = request_user_id()
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
        return self._time_text(record.created)

    def _time_text(self, created: float) -> str:
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = (second, time.strftime(self.default_time_format, self.converter(second)))
            self._second = cached
        return f"{cached[1]},{int((created - second) * 1000):03d}"

    def access_line(self, method: str, path: str, status: int, duration_ms: float | None,
                    request_id: str, user_id: int | None) -> str:
        """The line format() makes of the access log's record, made without the record."""
        return _JSON.encode({
            "time": self._time_text(time.time()),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": f"{method} {path} {status}",
            "request_id": request_id,
            "user_id": user_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
        })

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


ACCESS_LOGGER = "app.access"
_ACCESS_LOG = logging.getLogger(ACCESS_LOGGER)
# Waiting access lines are written once they reach this size, whatever the time.
ACCESS_LOG_BUFFER_CHARS = 64 * 1024


class OutputHandler(logging.StreamHandler):
    """Writes every record to the stream at once, except the access log's lines (INFO from
    `app.access`), which wait in memory until `flush_seconds` have passed or
    ACCESS_LOG_BUFFER_CHARS have gathered, and are then written in one go: a busy process
    makes a few large writes instead of one system call per request, as web servers offer for
    their access logs. Any other record writes the waiting lines first, so the output keeps
    its order; flush() writes them too, and logging calls it at exit, and before a fork.
    What a killed process had waiting (at most `flush_seconds` of access lines) is lost.
    With `flush_seconds` 0 every line is written at once."""

    def __init__(self, stream, flush_seconds: float) -> None:
        super().__init__(stream)
        self.flush_seconds = flush_seconds
        self.waiting: list[str] = []
        self.waiting_chars = 0
        self.writer_pid: int | None = None
        if flush_seconds > 0 and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != ACCESS_LOGGER or record.levelno > logging.INFO:
            self._write_waiting()
            super().emit(record)
            return
        try:
            line = self.format(record)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's own rule: a bad record never raises
            self.handleError(record)
            return
        self._queue(line)

    def access(self, method: str, path: str, status: int, duration_ms: float | None,
               request_id: str, user_id: int | None) -> bool:
        """Write one request's access line as the access log's record would be written, but
        formatted directly: a LogRecord, the filter and the generic formatter cost more than
        serving a cached page. False when the format has no such shortcut (text), or a
        filter of the access logger or of this handler might judge the line: log it then."""
        formatter = self.formatter
        if not isinstance(formatter, JsonFormatter) or self.filters_beyond_context or (
            _ACCESS_LOG.filters
        ):
            return False
        line = formatter.access_line(method, path, status, duration_ms, request_id, user_id)
        with self.lock:
            self._queue(line)
        return True

    @property
    def filters_beyond_context(self) -> bool:
        return any(not isinstance(each, RequestContextFilter) for each in self.filters)

    def _queue(self, line: str) -> None:
        """Keep an access line to be written with others, or write it now when nothing may
        wait (the caller holds the lock)."""
        line += self.terminator
        self.waiting.append(line)
        self.waiting_chars += len(line)
        if self.flush_seconds <= 0 or self.waiting_chars >= ACCESS_LOG_BUFFER_CHARS:
            self._write_waiting()
        elif self.writer_pid != os.getpid():
            self._start_writer()

    def _write_waiting(self) -> None:
        """Write what waits (the caller holds the handler's lock)."""
        if not self.waiting:
            return
        text = "".join(self.waiting)
        self.waiting.clear()
        self.waiting_chars = 0
        self._write(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a failed write never fails what logged it
            with contextlib.suppress(Exception):
                sys.stderr.write("--- Logging error: waiting access-log lines were lost ---\n")

    def flush(self) -> None:
        with self.lock:
            self._write_waiting()
        super().flush()

    def _start_writer(self) -> None:
        """A thread of this process that writes the waiting lines every `flush_seconds`
        (threads do not survive a fork, so each process starts its own)."""
        self.writer_pid = os.getpid()

        def write_now_and_then() -> None:
            while True:
                time.sleep(self.flush_seconds)
                self.flush()

        threading.Thread(target=write_now_and_then, name="access-log-writer", daemon=True).start()


_output: OutputHandler | None = None


def log_access(method: str, path: str, status: int, started: float | None,
               request_id: str, user_id: int | None) -> None:
    """The access log's line for one request (app.core.edge), at INFO on `app.access`;
    `started` is the request's time.perf_counter() at its start.

    With JSON output it goes straight to the shop's stdout handler (OutputHandler.access),
    the one place operators collect it; a handler someone else added to the root logger sees
    every other line but not these. Otherwise it is an ordinary log record."""
    if not _ACCESS_LOG.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    output = _output
    if (
        output is not None
        and _ACCESS_LOG.propagate
        and not _ACCESS_LOG.handlers
        and output in logging.root.handlers
        and output.access(method, path, status, duration_ms, request_id, user_id)
    ):
        return
    _ACCESS_LOG.info(
        "%s %s %s", method, path, status,
        # The request id and user id go with the record: an answer from the request edge
        # has no request context for the filter to read them from.
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms,
               "request_id": request_id, "user_id": user_id},
    )


def configure_logging(app: Flask) -> None:
    global _output
    level = app.config.get("LOG_LEVEL", "INFO")
    handler = OutputHandler(sys.stdout, app.config.get("ACCESS_LOG_FLUSH_SECONDS", 0.0))
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
    _output = handler
    root.setLevel(level)
    # Every process imports alembic; its plugin list at INFO is noise on each start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
