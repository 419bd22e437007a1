"""Run the whole test suite: `python run_tests.py [pytest arguments]`.

It installs what the tests need (into .venv), finds PostgreSQL and Redis, gives this run its
own database and Redis database number, runs pytest, and cleans up after itself.

Services are found in this order:
  PostgreSQL: TEST_DATABASE_URL (a server URL the tests may create databases on), else a
              server on 127.0.0.1:5432 (user postgres), else a throwaway server started from
              the installed binaries (initdb/pg_ctl) in a temporary folder.
  Redis:      TEST_REDIS_URL, else 127.0.0.1:6379, else a throwaway redis-server.
If neither is possible it stops with a one-line explanation.
"""

from __future__ import annotations

from bootstrap import ensure_virtualenv

if __name__ == "__main__":
    ensure_virtualenv(dev=True)

import atexit  # noqa: E402
import glob  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent


class SetupError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_connect(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3, autocommit=True)


def _pg_answers(url: str) -> bool:
    try:
        with _pg_connect(url):
            return True
    except Exception:
        return False


def _start_postgres() -> str:
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise SetupError(
            "PostgreSQL is not running on 127.0.0.1:5432 and no initdb/pg_ctl was found: "
            "install PostgreSQL or set TEST_DATABASE_URL."
        )
    workdir = Path(tempfile.mkdtemp(prefix="shop-test-pg-"))
    data = workdir / "data"
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: use the postgres (or nobody) account.
        for account in ("postgres", "nobody"):
            try:
                pwd.getpwnam(account)
            except KeyError:
                continue
            shutil.chown(workdir, user=account)
            run_as = ["runuser", "-u", account, "--"]
            break
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(workdir / "log"), "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )

    def stop():
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def find_postgres() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        if not _pg_answers(url):
            raise SetupError(f"TEST_DATABASE_URL does not answer: {url}")
        return url
    for candidate in (
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        f"postgresql+psycopg://{pwd.getpwuid(os.getuid()).pw_name}@127.0.0.1:5432/postgres",
    ):
        if _pg_answers(candidate):
            return candidate
    return _start_postgres()


def create_database(server_url: str) -> str:
    name = f"shop_test_{os.getpid()}_{secrets.token_hex(3)}"
    with _pg_connect(server_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop():
        try:
            with _pg_connect(server_url) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:
            pass

    atexit.register(drop)
    base = server_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


# --- Redis ------------------------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


def _start_redis() -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise SetupError(
            "Redis is not running on 127.0.0.1:6379 and no redis-server was found: "
            "install Redis or set TEST_REDIS_URL."
        )
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="shop-test-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )

    def stop():
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    url = f"redis://127.0.0.1:{port}"
    for _ in range(50):
        if _redis_answers(url):
            return url
        time.sleep(0.1)
    raise SetupError("The throwaway redis-server did not start.")


def find_redis() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        if not _redis_answers(url):
            raise SetupError(f"TEST_REDIS_URL does not answer: {url}")
        return url.rstrip("/")
    if _redis_answers("redis://127.0.0.1:6379"):
        return "redis://127.0.0.1:6379"
    return _start_redis()


def claim_redis_database(server_url: str) -> str:
    """Pick a Redis database number no other test run is using, and empty it."""
    import redis

    base = server_url.rsplit("/", 1)[0] if server_url.count("/") > 2 else server_url
    registry = redis.Redis.from_url(f"{base}/0")
    for number in range(1, 16):
        key = f"shop-tests:claim:{number}"
        if registry.set(key, os.getpid(), nx=True, ex=3 * 3600):
            atexit.register(registry.delete, key)
            redis.Redis.from_url(f"{base}/{number}").flushdb()
            return f"{base}/{number}"
    raise SetupError("Every Redis database 1-15 is claimed by another test run.")


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    try:
        database_url = create_database(find_postgres())
        redis_url = claim_redis_database(find_redis())
    except (SetupError, subprocess.CalledProcessError) as exc:
        print(f"run_tests.py: cannot prepare test services: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.update(
        FLASK_ENV="testing",
        SHOP_SKIP_DOTENV="1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_DEFAULT_QUEUE=f"shop-test-{os.getpid()}",
        PYTHONDONTWRITEBYTECODE="1",
    )
    print(f"Test services: PostgreSQL {database_url.rsplit('@', 1)[-1]}, Redis {redis_url}", flush=True)
    command = [sys.executable, "-m", "pytest", *argv]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
