"""Shared fixtures: the app on the real test database and Redis (given by run_tests.py),
a fake Mailgun over HTTP, a real Celery worker process, and helpers to sign people up."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.support import fake_stripe as stripe_fake
from tests.support.fake_mailgun import FakeMailgun

ROOT = Path(__file__).resolve().parent.parent

if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
    raise pytest.UsageError("Run the tests with `python run_tests.py` (it provides PostgreSQL and Redis).")

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def mailgun():
    fake = FakeMailgun().start()
    yield fake
    fake.stop()


_STRIPE = stripe_fake.FakeStripe().start()
# Images stored by the local backend go to a folder of this run, never into the project.
_MEDIA_DIR = tempfile.mkdtemp(prefix="shop-test-media-")


@pytest.fixture(scope="session")
def fake_stripe_server():
    yield _STRIPE
    _STRIPE.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server):
    """The fake Stripe API, emptied for this test."""
    fake_stripe_server.reset()
    return fake_stripe_server


def base_config(mailgun: FakeMailgun) -> dict:
    return {
        "STRIPE_API_KEY": stripe_fake.API_KEY,
        "STRIPE_WEBHOOK_SECRET": stripe_fake.WEBHOOK_SECRET,
        "STRIPE_API_BASE": _STRIPE.url,
        "LOCAL_STORAGE_DIR": _MEDIA_DIR,
        "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "MAIL_BACKEND": "mailgun",
        "MAILGUN_API_BASE": mailgun.url,
        "MAILGUN_API_KEY": mailgun.api_key,
        "MAILGUN_DOMAIN_NAME": "mg.shop.test",
        "MAILGUN_SENDER_EMAIL": "Shop <no-reply@mg.shop.test>",
        "MAILGUN_TIMEOUT_SECONDS": 2.0,
        "FRONTEND_ORIGIN_URL": "http://localhost:3000",
        "FRONTEND_PUBLIC_URL": "http://localhost:3000",
    }


@pytest.fixture(scope="session")
def app(mailgun):
    from flask_migrate import upgrade

    from app import create_app

    application = create_app(base_config(mailgun), env="testing")
    with application.app_context():
        upgrade()
    return application


@pytest.fixture(scope="session")
def make_app(mailgun, app):
    """Build another app on the same database with some settings changed."""
    from app import create_app

    def factory(**overrides):
        return create_app({**base_config(mailgun), **overrides}, env="testing")

    return factory


TABLES = None


@functools.cache
def _redis_for_locks() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@pytest.fixture(autouse=True)
def clean_state(app, mailgun):
    """Every test starts with empty tables, an empty cache and a quiet fake Mailgun."""
    from app.core import invalidation
    from app.extensions import cache, db

    global TABLES
    with app.app_context():
        if TABLES is None:
            TABLES = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        db.session.commit()
        db.session.remove()
        # Truncation bypasses the services, so cached reads of the old rows must go too,
        # in every app of this process.
        cache.clear()
        channel = invalidation.bus(app)
        if channel is not None:
            channel.announce_flush()
    # A task lock left by a run killed in an earlier test would make this test's run skip.
    locks = _redis_for_locks()
    stale_locks = list(locks.scan_iter("shop:task-lock:*"))
    if stale_locks:
        locks.delete(*stale_locks)
    mailgun.reset()
    yield


class HttpsClient(FlaskClient):
    """A test client that speaks https, as browsers do in production (Secure cookies)."""

    def open(self, *args, **kwargs):
        if not (args and not isinstance(args[0], str)):
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


def new_client(application) -> HttpsClient:
    application.test_client_class = HttpsClient
    return application.test_client()


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def db_session(app):
    from app.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()


# --- people -----------------------------------------------------------------------------------


def link_token(email_text: str, path: str) -> str:
    match = re.search(rf"http://localhost:3000/{path}/([A-Za-z0-9_.\-]+)", email_text)
    assert match, f"no /{path}/ link in email"
    return match.group(1)


class Accounts:
    """Creates accounts through the API, the way the storefront does."""

    def __init__(self, app, mailgun):
        self.app = app
        self.mailgun = mailgun
        self.counter = 0

    def signup(self, client, *, email=None, full_name="Test Person", password=PASSWORD):
        self.counter += 1
        email = email or f"person{self.counter}@example.com"
        response = client.post(
            "/user/signup", json={"full_name": full_name, "email": email, "password": password}
        )
        assert response.status_code == 201, response.json
        return email

    def verify(self, client, email):
        message = self.mailgun.wait_for(lambda m: m.to == email and "/login/" in m.text)[-1]
        token = link_token(message.text, "login")
        response = client.post(f"/user/verify-email/{token}")
        assert response.status_code == 200, response.json

    def login(self, client, email, password=PASSWORD, remember_me=False):
        response = client.post(
            "/user/login", json={"email": email, "password": password, "remember_me": remember_me}
        )
        assert response.status_code == 200, response.json
        return response

    def verified(self, client, **kwargs) -> str:
        email = self.signup(client, **kwargs)
        self.verify(client, email)
        return email

    def logged_in_client(self, **kwargs):
        client = new_client(self.app)
        email = self.verified(client, **kwargs)
        self.login(client, email, password=kwargs.get("password", PASSWORD))
        return client, email


@pytest.fixture
def accounts(app, mailgun):
    return Accounts(app, mailgun)


@pytest.fixture
def admin_client(accounts):
    """The first account of the shop, which is its admin."""
    client, _ = accounts.logged_in_client(email="admin@example.com", full_name="Shop Admin")
    return client


@pytest.fixture
def customer(accounts, admin_client):
    """A verified, logged-in customer (the admin exists first)."""
    client, email = accounts.logged_in_client(full_name="Casey Customer")
    return client, email


# --- a real Celery worker ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker_process(mailgun, app):
    """A real `celery worker` process consuming this run's queue on the real Redis broker."""
    env = dict(os.environ)
    env.update(
        FLASK_ENV="testing",
        STRIPE_API_KEY=stripe_fake.API_KEY,
        STRIPE_WEBHOOK_SECRET=stripe_fake.WEBHOOK_SECRET,
        STRIPE_API_BASE=_STRIPE.url,
        MAIL_BACKEND="mailgun",
        MAILGUN_API_BASE=mailgun.url,
        MAILGUN_API_KEY=mailgun.api_key,
        MAILGUN_DOMAIN_NAME="mg.shop.test",
        MAILGUN_TIMEOUT_SECONDS="2",
        EMAIL_RETRY_BACKOFF_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"shop-test-worker-{os.getpid()}.log"
    log_file = open(log_path, "w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "celery_worker.celery", "worker",
            "--pool", "threads", "--concurrency", "4", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--loglevel", "INFO",
        ],
        cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "ready." in log_path.read_text():
            break
        if process.poll() is not None:
            raise RuntimeError("celery worker exited:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)
    else:
        raise RuntimeError("celery worker did not start:\n" + log_path.read_text()[-3000:])
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log_file.close()


@pytest.fixture
def worker_app(make_app, celery_worker_process):
    """An app whose tasks go to the real broker and are run by the worker process."""
    return make_app(CELERY_TASK_ALWAYS_EAGER=False)


@pytest.fixture
def scratch_postgres():
    """The URL of an empty PostgreSQL database on the test server, dropped afterwards."""
    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"shop_scratch_{uuid.uuid4().hex[:8]}"
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
