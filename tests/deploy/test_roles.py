"""The three roles of the image, each started from entrypoint.sh as an operator starts it
(production settings, real PostgreSQL and Redis, no Docker engine needed)."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest
import redis
from alembic.config import Config
from alembic.script import ScriptDirectory
from celery import Celery
from sqlalchemy import create_engine, insert, inspect, select, text

from app.emails.models import OutboxEmail
from tests.conftest import ROOT
from tests.deploy.support import (
    ENTRYPOINT,
    METRICS_TOKEN,
    Role,
    free_port,
    http_get,
    json_lines,
    metric_value,
    production_env,
    scratch_database,
    wait_ready,
    wait_until,
)


def _alembic_head() -> str:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


# --- backend ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_backends(tmp_path_factory):
    """Two backends started at the same moment on one fresh database: both migrate it."""
    folder = tmp_path_factory.mktemp("backends")
    with scratch_database() as database_url:
        roles, ports = [], []
        for number in (1, 2):
            port = free_port()
            env = production_env(
                DATABASE_URL=database_url,
                PORT=port,
                GUNICORN_WORKERS=2,
                METRICS_ENABLED="true",
                METRICS_TOKEN=METRICS_TOKEN,
                PROMETHEUS_MULTIPROC_DIR=folder / f"metrics-{number}",
            )
            roles.append(Role("backend", env, folder / f"backend-{number}.log"))
            ports.append(port)
        try:
            for role, port in zip(roles, ports, strict=True):
                wait_ready(role, port)
            yield database_url, list(zip(roles, ports, strict=True))
        finally:
            for role in roles:
                role.stop()


def test_two_backends_migrating_one_fresh_database_both_start_with_the_right_schema(two_backends):
    from app.extensions import db

    database_url, backends = two_backends
    for role, port in backends:
        status, body = http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert role.running()
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            versions = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            )
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert versions == [_alembic_head()]
    assert {table.name for table in db.metadata.sorted_tables} <= tables


def test_the_backend_logs_each_request_as_a_json_line_with_its_request_id(two_backends):
    _, backends = two_backends
    role, port = backends[0]
    request_id = f"deploy-{secrets.token_hex(4)}"
    status, _ = http_get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": request_id})
    assert status == 200

    def logged():
        return [line for line in json_lines(role.output()) if line.get("request_id") == request_id]

    [line] = wait_until(logged, timeout=5, message="no JSON access log line")
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["logger"] == "app.access"


def test_metrics_add_up_every_gunicorn_worker_and_need_the_token(two_backends):
    _, backends = two_backends
    _, port = backends[1]
    base = f"http://127.0.0.1:{port}"
    for _ in range(12):
        assert http_get(f"{base}/healthz")[0] == 200
    assert http_get(f"{base}/metrics")[0] == 401
    assert http_get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"})[0] == 401
    status, exposition = http_get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    served = metric_value(
        exposition, "shop_http_requests_total", method="GET", route="/healthz", status="200"
    )
    assert served == 12


def test_migrations_go_through_migration_database_url_when_it_is_set(tmp_path):
    """Behind a pooler in transaction mode the migration lock needs a direct connection."""
    port = free_port()
    with scratch_database() as direct_url:
        env = production_env(
            MIGRATION_DATABASE_URL=direct_url,
            DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/through_the_pooler",
            PORT=port,
        )
        backend = Role("backend", env, tmp_path / "backend.log")
        try:
            wait_until(
                lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
                timeout=45,
                message=f"backend did not start:\n{backend.output()[-3000:]}",
                interval=0.2,
            )
            status, body = http_get(f"http://127.0.0.1:{port}/readyz")
            assert status == 503
            assert '"database":false' in body.replace(" ", "")
        finally:
            backend.stop()
        engine = create_engine(direct_url)
        try:
            with engine.connect() as connection:
                version = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar()
        finally:
            engine.dispose()
        assert version == _alembic_head()


# --- celery ----------------------------------------------------------------------------------


def test_the_celery_role_runs_a_task_taken_from_the_broker(app, mailgun, tmp_path):
    from app.extensions import db

    queue = f"shop-deploy-{secrets.token_hex(4)}"
    metrics_port = free_port()
    env = production_env(
        CELERY_TASK_DEFAULT_QUEUE=queue,
        MAIL_BACKEND="mailgun",
        MAILGUN_API_BASE=mailgun.url,
        MAILGUN_API_KEY=mailgun.api_key,
        MAILGUN_DOMAIN_NAME="mg.shop.test",
        WORKER_METRICS_PORT=metrics_port,
        PROMETHEUS_MULTIPROC_DIR=tmp_path / "metrics",
    )
    worker = Role("celery", env, tmp_path / "worker.log")
    try:
        with app.app_context():
            # A Core insert: the session hooks would otherwise send it from this process.
            email_id = db.session.execute(
                insert(OutboxEmail)
                .values(kind="test", to_address="role@example.com", subject="Role", text_body="Hi")
                .returning(OutboxEmail.id)
            ).scalar_one()
            db.session.commit()
        producer = Celery("producer", broker=os.environ["REDIS_URL"], set_as_current=False)
        with producer:
            producer.send_task("app.emails.tasks.send_outbox_email", args=[email_id], queue=queue)
        [message] = mailgun.wait_for(lambda m: m.to == "role@example.com", timeout=40)
        assert message.subject == "Role"
        # The worker marks the row sent just after Mailgun answered: give its commit a moment.
        def marked_sent():
            with app.app_context():
                sent_at = db.session.scalar(
                    select(OutboxEmail.sent_at).where(OutboxEmail.id == email_id)
                )
                db.session.remove()
            return sent_at is not None

        wait_until(marked_sent, timeout=10, message="the outbox row was never marked sent")

        def task_line():
            return [
                line
                for line in json_lines(worker.output())
                if line.get("message") == f"email {email_id} sent (test)"
            ]

        [line] = wait_until(task_line, timeout=5, message="no JSON log line from the task")
        assert line["task_name"] == "app.emails.tasks.send_outbox_email"
        assert len(line["task_id"]) >= 32

        status, exposition = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        succeeded = metric_value(
            exposition,
            "shop_celery_tasks_total",
            task="app.emails.tasks.send_outbox_email",
            outcome="succeeded",
        )
        assert succeeded == 1
    finally:
        worker.stop()
        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)


# --- beat ------------------------------------------------------------------------------------


def test_the_beat_role_writes_the_schedule_into_redis(tmp_path):
    prefix = f"shop-test-beat-{secrets.token_hex(4)}"
    queue = f"shop-deploy-{secrets.token_hex(4)}"
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    beat = Role(
        "beat",
        production_env(REDBEAT_KEY_PREFIX=prefix, CELERY_TASK_DEFAULT_QUEUE=queue),
        tmp_path / "beat.log",
    )
    try:
        wait_until(
            lambda: client.zcard(f"{prefix}::schedule") >= 5,
            timeout=30,
            message=f"beat wrote no schedule:\n{beat.output()[-3000:]}",
        )
        scheduled = set(client.zrange(f"{prefix}::schedule", 0, -1))
        assert f"{prefix}:relay-outbox-emails" in scheduled
        assert f"{prefix}:release-stale-carts" in scheduled
        entry = client.hget(f"{prefix}:relay-outbox-emails", "definition")
        assert "app.emails.tasks.relay_outbox_emails" in entry
        # The one running beat holds the leader lock.
        assert client.exists(f"{prefix}::lock")
    finally:
        beat.stop()
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.delete(queue)


# --- anything else -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["argument", "SERVICE_ROLE"])
def test_an_unknown_role_exits_non_zero_with_a_message(how):
    env = production_env()
    if how == "argument":
        command = [str(ENTRYPOINT), "frontend"]
    else:
        command = [str(ENTRYPOINT)]
        env["SERVICE_ROLE"] = "frontend"
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert "unknown role 'frontend'" in result.stderr
    assert "backend, celery or beat" in result.stderr
