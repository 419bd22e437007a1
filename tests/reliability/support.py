"""Helpers of the reliability suite: the scale it runs at, the figures it reports, gunicorn
backends started from entrypoint.sh, and shoppers speaking HTTP to them."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.deploy.support import FRONTEND_SECRET, Role, free_port, production_env, wait_ready
from tests.orders.conftest import ADDRESS, CHECKOUT_BODY
from tests.support import fake_stripe as stripe_fake

FULL = os.environ.get("RELIABILITY_SCALE", "reduced") == "full"


def scaled(reduced: int, full: int) -> int:
    """A count of this run: the reduced one for every CI run, the full one on demand."""
    return full if FULL else reduced


FIGURES_PATH = Path(os.environ.get("RELIABILITY_FIGURES", Path(os.environ.get("TMPDIR", "/tmp")) / "shop-reliability-figures.json"))
_figures: dict[str, dict] = {}
_figures_lock = threading.Lock()


def record(scenario: str, **values) -> None:
    """Add figures of a scenario to the run's report (written as JSON after each record)."""
    with _figures_lock:
        entry = _figures.setdefault(scenario, {})
        for key, value in values.items():
            entry[key] = entry.get(key, 0) + value if isinstance(value, int) and not isinstance(value, bool) else value
        entry["scale"] = "full" if FULL else "reduced"
        FIGURES_PATH.write_text(json.dumps(_figures, indent=2, sort_keys=True))


def run_bounded(count: int, call, *, workers: int, deadline_seconds: float) -> list:
    """Run call(i) for i in range(count) on `workers` threads; every call must finish in time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(call, index) for index in range(count)]
        return [future.result(timeout=deadline_seconds) for future in futures]


# --- backends -------------------------------------------------------------------------------------


def backend_env(*, port: int, queue: str, metrics_dir: Path, **extra) -> dict:
    """Production settings on the suite's database and Redis, reachable over plain http."""
    settings = dict(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        PORT=port,
        GUNICORN_WORKERS=2,
        GUNICORN_THREADS=4,
        GUNICORN_TIMEOUT=60,
        # The shoppers speak plain http to 127.0.0.1, so the cookies must not be Secure.
        COOKIE_SECURE="false",
        STRIPE_API_BASE=stripe_fake_url(),
        # Emails this backend queues go to a queue of its own, not to the suite's worker.
        CELERY_TASK_DEFAULT_QUEUE=queue,
        LOGIN_RATE_LIMIT="1000 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute",
        SIGNUP_RATE_LIMIT="1000 per minute",
        EMAIL_REQUEST_RATE_LIMIT="1000 per minute",
        EMAIL_ACCOUNT_RATE_LIMIT="1000 per minute",
        CONTACT_RATE_LIMIT="1000 per minute",
        # Every simulated shopper is a new guest from 127.0.0.1.
        GUEST_RATE_LIMIT="100000 per minute",
        CONTACT_US_EMAIL="owner@shop.test",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
    )
    settings.update(extra)
    return production_env(**settings)


def stripe_fake_url() -> str:
    from tests.conftest import _STRIPE

    return _STRIPE.url


class Backends:
    """Gunicorn instances (several workers each) serving the shop from entrypoint.sh."""

    def __init__(self, folder: Path, count: int, **extra):
        self.queue = f"shop-reliability-{secrets.token_hex(4)}"
        self.roles: list[Role] = []
        self.urls: list[str] = []
        for number in range(count):
            port = free_port()
            env = backend_env(port=port, queue=self.queue, metrics_dir=folder / f"metrics-{number}", **extra)
            self.roles.append(Role("backend", env, folder / f"backend-{number}.log"))
            self.urls.append(f"http://127.0.0.1:{port}")
        try:
            for role, url in zip(self.roles, self.urls, strict=True):
                wait_ready(role, int(url.rsplit(":", 1)[1]), timeout=90)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for role in self.roles:
            role.stop()
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(self.queue)


# --- shoppers -------------------------------------------------------------------------------------


class Shopper:
    """One browser: a requests session bound to one backend, sending the storefront's secret."""

    def __init__(self, base_url: str, *, timeout: float = 30):
        self.base = base_url
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["X-Frontend-Secret"] = FRONTEND_SECRET
        self.statuses: list[int] = []
        self.timings: list[tuple[str, str, float]] = []

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        response = self.http.request(method, self.base + path, **kwargs)
        self.statuses.append(response.status_code)
        self.timings.append((method, path, response.elapsed.total_seconds()))
        return response

    def add(self, product_id: int, quantity: int = 1) -> requests.Response:
        return self.call("POST", f"/cart/{product_id}", json={"quantity": quantity})

    def line_id(self, product_id: int) -> int | None:
        for entry in self.call("GET", "/cart/").json():
            if entry["product"]["id"] == product_id:
                return entry["cart_product"]["id"]
        return None

    def checkout(self) -> requests.Response:
        assert self.call("POST", "/address/", json=ADDRESS).status_code == 201
        return self.call("POST", "/order/checkout", json=CHECKOUT_BODY)


def signed_event(fake, event_type: str, session: dict, *, event_id: str | None = None):
    """(body, headers) of a webhook Stripe would send for `session`."""
    return fake.webhook(fake.event(event_type, session, event_id=event_id))


def post_webhook(base_url: str, body: bytes, headers: dict) -> int:
    return requests.post(f"{base_url}/order/webhook", data=body, headers=headers, timeout=30).status_code


def wait_for(predicate, *, timeout: float, message: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


__all__ = ["stripe_fake"]


# --- people on a backend --------------------------------------------------------------------------


class Identity:
    """A signed-in account on a backend. Hostile traffic may log it out, change its password or
    delete it; ensure() brings a usable session back (signing up a new account if need be)."""

    def __init__(self, app, base_url: str, *, name: str):
        self.app = app
        self.base_url = base_url
        self.name = name
        self.generation = 0
        self.shopper = Shopper(base_url)
        self.email = ""
        self.user_id = 0
        self._new_account()

    def _new_account(self) -> None:
        from sqlalchemy import update

        from app.auth.models import User
        from app.extensions import db
        from tests.conftest import PASSWORD

        self.generation += 1
        self.email = f"{self.name}-{self.generation}-{secrets.token_hex(3)}@example.com"
        self.shopper = Shopper(self.base_url)
        response = self.shopper.call(
            "POST", "/user/signup", json={"full_name": self.name.title(), "email": self.email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        # Verification by email is tested elsewhere; here the account is marked verified.
        with self.app.app_context():
            db.session.execute(update(User).where(User.email == self.email).values(is_verified=True))
            db.session.commit()
            self.user_id = db.session.scalar(select_user_id(self.email))
            db.session.remove()
        self.login()

    def login(self) -> bool:
        from tests.conftest import PASSWORD

        response = self.shopper.call(
            "POST", "/user/login", json={"email": self.email, "password": PASSWORD, "remember_me": False}
        )
        return response.status_code == 200

    @property
    def cookies(self) -> dict:
        return {cookie.name: cookie.value for cookie in self.shopper.http.cookies}

    def ensure(self) -> None:
        if self.shopper.call("GET", "/user/authenticate").status_code == 200:
            return
        if not self.login():
            self._new_account()


def select_user_id(email: str):
    from sqlalchemy import select

    from app.auth.models import User

    return select(User.id).where(User.email == email)
