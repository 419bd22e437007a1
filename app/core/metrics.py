"""Prometheus metrics: HTTP requests by route and Celery task outcomes.

`GET /metrics` (when METRICS_ENABLED) serves the API's metrics; with METRICS_TOKEN set it
needs `Authorization: Bearer <token>`. Requests are labelled by URL rule (`/product/<int:id>`),
never by raw path, so a scan of random URLs cannot create new series.

Task outcomes are counted in the process that runs the task: a `celery` worker serves them
on WORKER_METRICS_PORT. gunicorn and prefork workers run several processes; with
PROMETHEUS_MULTIPROC_DIR set (entrypoint.sh sets it) each process writes its counts there and
the scrape adds them up.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

from celery import signals
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.core.errors import InvalidToken

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "shop_http_requests_total",
    "HTTP requests answered, by method, URL rule and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL rule.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASK_OUTCOMES = Counter(
    "shop_celery_tasks_total",
    "Celery tasks finished, by task name and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "shop_celery_task_duration_seconds",
    "Run time of a Celery task, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's counts in multiprocess mode, else this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


# --- HTTP ---------------------------------------------------------------------------------------


def _record_request(response):
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def _metrics_view():
    """Prometheus metrics of this API (text exposition format)."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        supplied = request.headers.get("Authorization", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            raise InvalidToken()
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask) -> None:
    """Count every request and serve /metrics, or do nothing when METRICS_ENABLED is off."""
    if not app.config.get("METRICS_ENABLED"):
        return
    from app.extensions import limiter

    app.after_request(_record_request)
    app.add_url_rule(METRICS_PATH, "metrics", limiter.exempt(_metrics_view), methods=["GET"])


# --- Celery -------------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_prerun(task_id=None, **_):
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_postrun(task_id=None, task=None, **_):
    started = _task_started.pop(task_id, None)
    if started is not None and task is not None:
        TASK_DURATION.labels(task.name).observe(time.perf_counter() - started)


@signals.task_success.connect
def _task_succeeded(sender=None, **_):
    TASK_OUTCOMES.labels(getattr(sender, "name", "unknown"), "succeeded").inc()


@signals.task_failure.connect
def _task_failed(sender=None, **_):
    TASK_OUTCOMES.labels(getattr(sender, "name", "unknown"), "failed").inc()


@signals.task_retry.connect
def _task_retried(sender=None, **_):
    TASK_OUTCOMES.labels(getattr(sender, "name", "unknown"), "retried").inc()


@signals.worker_init.connect
def _serve_worker_metrics(sender=None, **_):
    """A worker has no HTTP routes: it serves its metrics on their own port when asked to."""
    port = sender.app.conf.get("shop_worker_metrics_port") if sender is not None else 0
    if not port:
        return
    from prometheus_client import start_http_server

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Counts of a previous run of this worker in the same folder are not ours.
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
    start_http_server(port, registry=registry())
    log.info("worker metrics on port %s", port)
