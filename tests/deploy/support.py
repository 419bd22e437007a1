"""Helpers for the deployment tests: roles started from entrypoint.sh as real processes,
scratch databases, and PostgreSQL and Redis servers that a test may stop and start again."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.conftest import ROOT
from tests.support import fake_stripe as stripe_fake

ENTRYPOINT = ROOT / "entrypoint.sh"
FRONTEND_SECRET = "deploy-test-frontend-secret"
METRICS_TOKEN = "deploy-test-metrics-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def http_get(url: str, headers: dict | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, whatever the label order."""
    for line in exposition.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text = line[len(name) + 1 : line.rindex("}")]
        if all(f'{key}="{value}"' in label_text for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def scratch_database():
    """A new, empty database on the test PostgreSQL server; dropped afterwards."""
    test_url = os.environ["DATABASE_URL"]
    server = test_url.rsplit("/", 1)[0]
    name = f"shop_deploy_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_libpq_url(f"{server}/postgres"), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(_libpq_url(f"{server}/postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(**extra) -> dict:
    """The environment of a production role on the test services, every secret given."""
    env = dict(os.environ)
    env.update(
        FLASK_ENV="production",
        SHOP_SKIP_DOTENV="1",
        PYTHON=sys.executable,
        PYTHONUNBUFFERED="1",
        SECRET_KEY="deploy-test-secret-key-" + "x" * 40,
        STRIPE_API_KEY=stripe_fake.API_KEY,
        STRIPE_WEBHOOK_SECRET=stripe_fake.WEBHOOK_SECRET,
        FRONTEND_SECRET_HEADER=FRONTEND_SECRET,
        MAIL_BACKEND="console",
        STORAGE_BACKEND="local",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        GUNICORN_WORKERS="1",
        CELERY_WORKER_CONCURRENCY="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Role:
    """One role started from entrypoint.sh in its own process group, output in a file."""

    def __init__(self, role: str, env: dict, log_path: Path):
        self.role = role
        self.log_path = log_path
        self._log = open(log_path, "w")
        # entrypoint.sh makes its metrics folder under TMPDIR: keep it in the test's folder.
        env = {**env, "TMPDIR": str(log_path.parent)}
        self.process = subprocess.Popen(
            [str(ENTRYPOINT), role],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        def seen():
            if text in self.output():
                return True
            if not self.running():
                raise AssertionError(f"{self.role} exited:\n{self.output()[-3000:]}")
            return False

        wait_until(
            seen, timeout=timeout, message=f"{self.role}: no {text!r}:\n{self.output()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL the whole group at once, as when a container or machine dies."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def wait_ready(role: Role, port: int, timeout: float = 45) -> None:
    def ready():
        if not role.running():
            raise AssertionError(f"backend exited:\n{role.output()[-3000:]}")
        return http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200

    wait_until(
        ready, timeout=timeout, message=f"backend not ready:\n{role.output()[-3000:]}", interval=0.2
    )


# --- servers a test may stop and start --------------------------------------------------------


class ThrowawayRedis:
    """A redis-server of our own on a fixed port, so it can go away and come back."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        assert self.binary, "redis-server is needed (run_tests.py uses it too)"
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="shop-deploy-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_until(answers, timeout=10, message="throwaway redis-server did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
    )
    assert found, f"{name} is needed for a throwaway PostgreSQL server"
    return str(found)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (initdb), stopped and started on one port. As root it
    runs as the postgres (or nobody) account, because PostgreSQL refuses to run as root."""

    def __init__(self):
        self.initdb, self.pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
        self.workdir = Path(tempfile.mkdtemp(prefix="shop-deploy-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            for account in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(account)
                except KeyError:
                    continue
                shutil.chown(self.workdir, user=account)
                self.run_as = ["runuser", "-u", account, "--"]
                break
        subprocess.run(
            [
                *self.run_as,
                self.initdb,
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> ThrowawayPostgres:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.workdir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)
