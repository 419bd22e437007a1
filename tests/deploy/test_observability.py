"""What an operator sees: JSON log lines (request id, user id, method, path, status,
duration; task id inside tasks) and Prometheus metrics on /metrics."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time

import pytest
from flask import request_started
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.auth.models import User
from config import ConfigError
from tests.conftest import ROOT, base_config, new_client
from tests.deploy.support import json_lines

TOKEN = "metrics-token-for-tests"
SECRET = "frontend-secret-for-tests"


@pytest.fixture
def logging_app(make_app, restore_celery):
    """make_app() for an app logging JSON lines at INFO, returning it and a function that gives
    the lines written since its last call. The stdout handler writes into a buffer here; the
    suite's logging comes back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level

    def factory(**settings):
        app = make_app(LOG_FORMAT="json", LOG_LEVEL="INFO", **settings)
        [handler] = [h for h in root.handlers if getattr(h, "_shop_handler", False)]
        buffer = io.StringIO()
        handler.setStream(buffer)

        def read_lines():
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return json_lines(text)

        return app, read_lines

    yield factory
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def json_app(logging_app):
    """An app writing each log line at once (as the test configuration does)."""
    return logging_app()


def test_each_request_is_one_json_line_with_request_id_user_method_path_status_duration(
    json_app, accounts, db_session
):
    app, read_lines = json_app
    client = new_client(app)
    email = accounts.signup(client)
    accounts.verify(client, email)
    accounts.login(client, email)
    user_id = db_session.scalar(select(User.id).where(User.email == email))
    read_lines()

    response = client.get("/user/", headers={"X-Request-ID": "trace-0042"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-0042"
    [line] = [line for line in read_lines() if line["logger"] == "app.access"]
    assert line["request_id"] == "trace-0042"
    assert line["user_id"] == user_id
    assert (line["method"], line["path"], line["status"]) == ("GET", "/user/", 200)
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"


def _category_pages(app, count):
    """GET /category/ `count` times (computed once, then answered at the edge) with request
    ids kept-1, kept-2...; how many of them Flask dispatched."""
    client = new_client(app)
    dispatched = []

    def note(sender, **_extra):
        dispatched.append(sender)

    request_started.connect(note, app)
    try:
        for number in range(1, count + 1):
            response = client.get("/category/", headers={"X-Request-ID": f"kept-{number}"})
            assert response.status_code == 200
            assert response.headers["X-Request-ID"] == f"kept-{number}"
    finally:
        request_started.disconnect(note, app)
    return len(dispatched)


def test_a_kept_catalogue_page_answered_at_the_edge_still_writes_its_access_line(json_app):
    app, read_lines = json_app
    assert _category_pages(app, 3) == 1
    lines = [line for line in read_lines() if line["logger"] == "app.access"]
    assert [line["request_id"] for line in lines] == ["kept-1", "kept-2", "kept-3"]
    assert {(line["method"], line["path"], line["status"]) for line in lines} == {
        ("GET", "/category/", 200)
    }
    assert all(line["duration_ms"] >= 0 and line["user_id"] is None for line in lines)


def test_text_access_lines_of_the_edge_carry_their_request_id(make_app, caplog):
    app = make_app(LOG_FORMAT="text", LOG_LEVEL="INFO")
    with caplog.at_level(logging.INFO, logger="app.access"):
        assert _category_pages(app, 2) == 1
    records = [record for record in caplog.records if record.name == "app.access"]
    assert [record.request_id for record in records] == ["kept-1", "kept-2"]
    assert [record.getMessage() for record in records] == ["GET /category/ 200"] * 2


def test_a_bad_incoming_request_id_is_replaced(json_app):
    app, read_lines = json_app
    response = new_client(app).get("/healthz", headers={"X-Request-ID": "<script> id"})
    assigned = response.headers["X-Request-ID"]
    assert assigned.isalnum()
    [line] = [line for line in read_lines() if line["logger"] == "app.access"]
    assert line["request_id"] == assigned


def test_lines_logged_inside_a_task_carry_the_task_id(json_app, mailgun):
    app, read_lines = json_app
    client = new_client(app)
    response = client.post(
        "/user/signup",
        json={"full_name": "Tess Task", "email": "tess@example.com", "password": "long enough pw"},
    )
    assert response.status_code == 201
    mailgun.wait_for(lambda m: m.to == "tess@example.com")
    [sent] = [
        line
        for line in read_lines()
        if line["message"].startswith("email ") and "sent" in line["message"]
    ]
    assert sent["task_name"] == "app.emails.tasks.send_outbox_email"
    assert len(sent["task_id"]) >= 32


def test_access_lines_are_written_together_soon_after_and_in_order(logging_app):
    app, read_lines = logging_app(ACCESS_LOG_FLUSH_SECONDS=0.3)
    client = new_client(app)
    for number in (1, 2):
        client.get("/healthz", headers={"X-Request-ID": f"batch-{number}"})
    # Any other line is written at once, after the access lines that waited before it.
    logging.getLogger("app.tests").warning("after two requests")
    written = read_lines()
    assert [line.get("request_id") for line in written] == ["batch-1", "batch-2", "-"]
    assert written[-1]["message"] == "after two requests"
    assert written[0]["path"] == "/healthz" and written[0]["status"] == 200

    client.get("/healthz", headers={"X-Request-ID": "batch-3"})
    deadline = time.monotonic() + 5
    seen = []
    while not seen:
        assert time.monotonic() < deadline, "a waiting access line was never written"
        time.sleep(0.05)
        seen = [line for line in read_lines() if line.get("request_id") == "batch-3"]
    assert seen[0]["logger"] == "app.access"


def test_access_lines_still_waiting_are_written_when_the_process_exits(tmp_path):
    """A process that ends normally (a gunicorn worker told to stop) loses none of them."""
    script = (
        "from app import create_app\n"
        "app = create_app({'ACCESS_LOG_FLUSH_SECONDS': 30, 'LOG_FORMAT': 'json',"
        " 'LOG_LEVEL': 'INFO', 'SQLALCHEMY_DATABASE_URI': 'sqlite://'}, env='development')\n"
        "client = app.test_client()\n"
        "for number in range(3):\n"
        "    client.get('/healthz', headers={'X-Request-ID': f'exit-{number}'})\n"
    )
    env = {**os.environ, "SHOP_SKIP_DOTENV": "1"}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ids = [line.get("request_id") for line in json_lines(finished.stdout)
           if line.get("logger") == "app.access"]
    assert ids == ["exit-0", "exit-1", "exit-2"]


def test_the_flush_interval_is_checked(mailgun):
    from app import create_app

    with pytest.raises(ConfigError, match="ACCESS_LOG_FLUSH_SECONDS"):
        create_app({**base_config(mailgun), "ACCESS_LOG_FLUSH_SECONDS": -1}, env="testing")


# --- metrics ------------------------------------------------------------------------------------


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_app(make_app, restore_celery):
    return make_app(
        METRICS_ENABLED=True,
        METRICS_TOKEN=TOKEN,
        ENFORCE_FRONTEND_SECRET=True,
        FRONTEND_SECRET_HEADER=SECRET,
    )


def test_metrics_are_off_unless_enabled(client):
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_metrics_need_the_bearer_token_but_not_the_frontend_secret(metrics_app):
    client = new_client(metrics_app)
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "invalid_token"
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    served = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert served.status_code == 200
    assert "shop_http_requests_total" in served.get_data(as_text=True)
    # Everything else still needs the storefront's secret.
    assert client.get("/category/").status_code == 403


def test_requests_are_counted_by_url_rule_not_by_raw_path(metrics_app):
    client = new_client(metrics_app)
    route = "/product/<int:product_id>"
    before = _sample("shop_http_requests_total", method="GET", route=route, status="400")
    timed_before = _sample("shop_http_request_duration_seconds_count", method="GET", route=route)
    for product_id in (101, 202, 303):
        response = client.get(f"/product/{product_id}", headers={"X-Frontend-Secret": SECRET})
        assert response.status_code == 400  # no such product
    assert (
        _sample("shop_http_requests_total", method="GET", route=route, status="400") == before + 3
    )
    assert (
        _sample("shop_http_request_duration_seconds_count", method="GET", route=route)
        == timed_before + 3
    )
    exposition = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(
        as_text=True
    )
    assert "/product/101" not in exposition


def test_with_metrics_on_every_read_of_a_kept_page_is_counted(metrics_app):
    client = new_client(metrics_app)
    labels = {"method": "GET", "route": "/category/", "status": "200"}
    before = _sample("shop_http_requests_total", **labels)
    for _ in range(3):  # computed once, then kept
        assert client.get("/category/", headers={"X-Frontend-Secret": SECRET}).status_code == 200
    assert _sample("shop_http_requests_total", **labels) == before + 3


def test_task_outcomes_are_counted(metrics_app, mailgun):
    name = "app.emails.tasks.send_outbox_email"
    succeeded = _sample("shop_celery_tasks_total", task=name, outcome="succeeded")
    client = new_client(metrics_app)
    response = client.post(
        "/user/signup",
        json={"full_name": "Mo Metrics", "email": "mo@example.com", "password": "long enough pw"},
        headers={"X-Frontend-Secret": SECRET},
    )
    assert response.status_code == 201
    mailgun.wait_for(lambda m: m.to == "mo@example.com")
    assert _sample("shop_celery_tasks_total", task=name, outcome="succeeded") == succeeded + 1
    assert _sample("shop_celery_task_duration_seconds_count", task=name) >= 1


def test_production_refuses_open_metrics(mailgun):
    from app import create_app

    settings = {
        **base_config(mailgun),
        "SECRET_KEY": "p" * 40,
        "FRONTEND_SECRET_HEADER": SECRET,
        "MAIL_BACKEND": "console",
        "STORAGE_BACKEND": "local",
        "METRICS_ENABLED": True,
    }
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        create_app(settings, env="production")
