"""Run the benchmark suite: `python3 benchmarks/run.py` (see benchmarks/README.md).

One run: creates a throwaway PostgreSQL database (found as run_tests.py finds its server)
and claims a Redis database number, applies the migrations, generates the standard data
set, starts the fake Stripe, then four servers with the identical production gunicorn
command (gunicorn.conf.py, FLASK_ENV=production, every secret given, 2 workers x 4 threads,
bound to 127.0.0.1):

    ceiling   benchmarks/ceiling_app.py, a minimal Flask app answering a small JSON object
    shop      the shop (run:app), caches on Redis as in production
    nocache   the shop with CACHE_TYPE=NullCache (every read goes to PostgreSQL)
    floor     benchmarks/floor_app.py, the least the prescribed stack does for a new guest's add

Load comes from another process: wrk (installed with apt-get when missing and allowed) or
benchmarks/loadgen.py where a scenario needs a fresh cookie or body per request; ratios are
always taken against the ceiling measured with the same tool. Every scenario has a warm-up,
then a fixed duration repeated (medians reported). The SQL statements of one request are
counted in-process (a before_cursor_execute listener) on the same data. Afterwards the large
data set is generated in a second database for the scale-sensitive endpoints (dashboard).

Writes benchmarks/results/<date>.json, <date>.md and <date>.png. `--smoke` runs everything
on tiny data for about a second per scenario (CI; no timing assertions).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _bootstrap(argv: list[str]) -> None:
    """Run inside the project's virtual environment (as run.py does), plus the benchmark-only
    requirements (matplotlib for the chart) unless this is a smoke run."""
    import subprocess

    from bootstrap import VENV, ensure_virtualenv

    if Path(sys.prefix).resolve() != VENV.resolve():
        ensure_virtualenv(dev=False)  # re-executes this command inside .venv
    if "--smoke" in argv:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("Installing benchmarks/requirements.txt ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
             "-r", str(ROOT / "benchmarks" / "requirements.txt")],
            check=True,
        )


if __name__ == "__main__":
    _bootstrap(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import quote  # noqa: E402

from benchmarks import datagen, report  # noqa: E402

FRONTEND_SECRET = "bench-frontend-secret"
SECRET_KEY = "bench-secret-key-" + "k" * 40
WORKERS, THREADS = "2", "4"
# Length of each paired ceiling/scenario run, and tries per pair (measure()).
PAIR_SECONDS = 1.0
ATTEMPTS = 4
# Scenarios whose requests always reach PostgreSQL: also measured as PostgreSQL alone, each
# with whether its replay commits. The reads are replayed in a transaction that is rolled
# back; the add to cart as the shop runs it (one statement committing on its own), with fresh
# ids for what must be unique.
ALONE = {"product_list_uncached": False, "product_list_deep": False,
         "add_to_cart_contention": True}
# Scenarios also measured on a server doing only what the prescribed stack must do for the
# same requests (the stack floor): scenario key -> that server (benchmarks/floor_app.py).
FLOORS = {"add_to_cart_contention": "floor"}
# Scenarios of the large data set (run_large).
LARGE_KEYS = ("dashboard_large", "admin_orders_large", "order_history_large",
              "product_list_cached_large")
_UUID_LITERAL = re.compile(
    r"'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'::VARCHAR")
CONNECTIONS = 16
ADDRESS = {"full_name": "Guest Buyer", "address_line_1": "1 Market Street",
           "address_line_2": "", "city": "York", "postcode": "YO1 1AA"}


@dataclass
class Settings:
    smoke: bool
    warmup: float
    duration: float
    repeats: int
    pool: int  # prepared carts / snapshots per write scenario
    large: bool
    only: frozenset[str] = frozenset()  # scenario keys to measure (empty: every one)

    def wanted(self, key: str) -> bool:
        return not self.only or key in self.only


def settings_for(args) -> Settings:
    only = frozenset(key.strip() for key in (args.only or "").split(",") if key.strip())
    if args.smoke:
        return Settings(True, 0.0, 0.7, 1, 60, False, only)
    large = not args.skip_large and (not only or bool(only & set(LARGE_KEYS)))
    return Settings(False, args.warmup, args.duration, args.repeats, args.pool, large, only)


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port: int, method: str, path: str, *, body=None, headers=None, timeout=30.0):
    """(status, headers, body) of one request to 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body) if isinstance(body, (dict, list)) else body
        all_headers = {"X-Frontend-Secret": FRONTEND_SECRET, **(headers or {})}
        if payload is not None:
            all_headers.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def cookie_from(headers) -> str:
    jar = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.append(value.split(";", 1)[0])
    return "; ".join(cookie for cookie in jar if cookie.startswith("access_token="))


class Server:
    """One gunicorn started with the production command line (same for every server)."""

    def __init__(self, name: str, app_path: str, env: dict, workdir: Path):
        self.name, self.port = name, free_port()
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "w")
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                   "--bind", f"127.0.0.1:{self.port}", app_path]
        self.command = command
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**env, "PORT": str(self.port)},
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                # Both workers must be up before any timing.
                answered = call(self.port, "GET", path, timeout=2)[0] == 200
                if answered and len(self.workers()) == int(WORKERS):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")

    def workers(self) -> list[int]:
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(entry))
        return sorted(children)

    def memory(self) -> list[dict]:
        """VmRSS and VmHWM (peak) of each worker, in MB, from /proc."""
        found = []
        for pid in self.workers():
            values = {"pid": pid}
            try:
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith(("VmRSS:", "VmHWM:")):
                            key, amount = line.split(":")
                            values[key.lower()] = round(int(amount.split()[0]) / 1024, 1)
            except OSError:
                continue
            found.append(values)
        return found

    def cpu_ticks(self) -> dict[int, int]:
        """CPU time (clock ticks) each worker has used so far."""
        ticks = {}
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks[pid] = int(fields[11]) + int(fields[12])
        return ticks

    def wait_idle(self, limit: float = 20.0) -> None:
        """Until the workers stop using CPU (requests a load tool left behind are done)."""
        def cpu() -> int:
            total = 0
            for pid in self.workers():
                try:
                    with open(f"/proc/{pid}/stat") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
                except OSError:
                    continue
            return total

        deadline = time.monotonic() + limit
        previous, quiet = cpu(), 0
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.3)
            current = cpu()
            quiet = quiet + 1 if current - previous <= 1 else 0
            previous = current

    def restarts(self) -> int:
        """Workers recycled so far (gunicorn's max_requests)."""
        return self.log_path.read_text(errors="replace").count("Autorestarting worker")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def ensure_wrk(allow_install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk is missing: apt-get install -y wrk ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300, check=False)
    return shutil.which("wrk")


# --- load -------------------------------------------------------------------------------------


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(requests: list[dict], path: Path) -> None:
    entries = []
    for request in requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                            for k, v in request.get("headers", {}).items())
        body = _lua_string(request["body"]) if request.get("body") else "nil"
        entries.append(f"  wrk.format({_lua_string(request['method'])}, "
                       f"{_lua_string(request['path'])}, {{{headers}}}, {body})")
    path.write_text(
        "local requests = nil\nlocal index = 0\n"
        "init = function(args)\n  requests = {\n" + ",\n".join(entries) + "\n  }\nend\n"
        "request = function()\n  index = index + 1\n"
        "  return requests[(index % #requests) + 1]\nend\n"
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(wrk: str, port: int, requests: list[dict], seconds: float, workdir: Path) -> dict:
    script = workdir / "scenario.lua"
    wrk_script(requests, script)
    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(seconds, 1):.0f}s", "--latency",
               "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    total = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", output)
    p99 = re.search(r"99%\s+([\d.]+\w+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": total,
        "rps": rps,
        "p50_ms": _ms(p50.group(1)) if p50 else None,
        "p99_ms": _ms(p99.group(1)) if p99 else None,
        "errors": {"non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
                   "socket": sum(map(int, socket_errors.groups())) if socket_errors else 0},
    }


def run_loadgen(port: int, requests: list[dict], seconds: float, mode: str, workdir: Path,
                max_requests: int | None = None) -> dict:
    spec = workdir / "loadgen.json"
    spec.write_text(json.dumps({
        "host": "127.0.0.1", "port": port, "connections": CONNECTIONS, "duration": seconds,
        "requests": requests, "mode": mode, "max_requests": max_requests,
    }))
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), str(spec)],
        capture_output=True, text=True, timeout=seconds + 90,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    return json.loads(completed.stdout)


@dataclass
class Scenario:
    key: str
    title: str
    server: str
    requests: list[dict]
    tool: str = "wrk"  # wrk | py (fresh body/cookie per request)
    mode: str = "cycle"  # cycle | once (each prepared request at most once)
    group: str = "main"  # main | login | large | ceiling
    sql: dict = field(default_factory=dict)
    # Builds the requests just before the scenario runs, for requests that go stale (webhook
    # signatures are refused after five minutes).
    prepare: Callable[[], list[dict]] | None = None


def get(path: str, cookie: str | None = None) -> dict:
    headers = {"X-Frontend-Secret": FRONTEND_SECRET}
    if cookie:
        headers["Cookie"] = cookie
    return {"method": "GET", "path": path, "headers": headers, "body": None}


def post(path: str, body: str, cookie: str | None = None, headers: dict | None = None) -> dict:
    all_headers = {"X-Frontend-Secret": FRONTEND_SECRET, "Content-Type": "application/json",
                   **(headers or {})}
    if cookie:
        all_headers["Cookie"] = cookie
    return {"method": "POST", "path": path, "headers": all_headers, "body": body}


def measure(scenario: Scenario, server: Server, tools: dict, settings: Settings,
            workdir: Path, ceiling: Server | None = None) -> dict:
    """Warm-up, then `repeats` x `duration` seconds of timed runs; the medians and every run.

    With `ceiling`, the time is cut into slices of PAIR_SECONDS, each run of the scenario
    right after a run of the ceiling app with the same load tool and length, and the
    scenario's ratio is the median of the pairs' ratios: the machine's speed changes within
    seconds (other work on shared CPUs), so a ceiling measured minutes earlier would compare
    different machines. A pair during which either server recycled a worker (gunicorn's
    max_requests; a new worker spends about a second of CPU starting) is measured again once
    both are settled; so is a pair in which one server's load landed on one worker only: the
    load tool opens its connections all at once and gunicorn lets whichever worker wakes first
    accept them, so now and then one worker takes every connection and the other idles, and
    that run measures one worker (about a third of the server) instead of the server."""
    tool = scenario.tool if (scenario.tool == "py" or tools["wrk"]) else "py"
    pool = list(scenario.requests)

    def once(seconds: float) -> dict:
        nonlocal pool
        if tool == "wrk":
            return run_wrk(tools["wrk"], server.port, pool, seconds, workdir)
        result = run_loadgen(server.port, pool, seconds, scenario.mode, workdir)
        if scenario.mode == "once":
            pool = pool[result["sent"]:]
        return result

    def ceiling_once(seconds: float) -> dict:
        if tool == "wrk":
            return run_wrk(tools["wrk"], ceiling.port, [get("/hello")], seconds, workdir)
        return run_loadgen(ceiling.port, [get("/hello")], seconds, "cycle", workdir)

    def recycled() -> tuple[int, ...]:
        return tuple(each.restarts() for each in (server, ceiling) if each is not None)

    def one_sided(each: Server, before: dict[int, int]) -> bool:
        used = [ticks - before.get(pid, 0) for pid, ticks in each.cpu_ticks().items()]
        return len(used) > 1 and max(used) > 20 and min(used) * 4 < max(used)

    if settings.warmup > 0:
        once(settings.warmup)
    if ceiling is None:
        length, count = settings.duration, settings.repeats
    else:
        length = min(PAIR_SECONDS, settings.duration)
        count = settings.repeats * max(round(settings.duration / length), 1)
    runs, remeasured = [], 0
    for _ in range(count):
        run = None
        for attempt in range(ATTEMPTS):
            if scenario.mode == "once" and not pool:
                # Nothing left to send again: a pair that would have been measured again is
                # kept as it is rather than lost.
                if run is not None:
                    runs.append(run)
                break
            before = recycled()
            beside, lopsided = None, False
            if ceiling is not None:
                ticks = ceiling.cpu_ticks()
                beside = ceiling_once(length)
                lopsided = one_sided(ceiling, ticks)
            ticks = server.cpu_ticks()
            run = once(length)
            lopsided = lopsided or one_sided(server, ticks)
            if beside is not None and beside.get("rps"):
                run["ceiling_rps"] = beside["rps"]
            if (recycled() == before and not lopsided) or attempt == ATTEMPTS - 1:
                runs.append(run)
                break
            remeasured += 1
            if recycled() != before:
                for each in (server, ceiling):
                    if each is not None:
                        each.wait_idle()
    runs = [run for run in runs if run["requests"]]
    pairs = [run["rps"] / run["ceiling_rps"] for run in runs
             if run.get("ceiling_rps") and run.get("rps") is not None]

    def median(key):
        values = [run[key] for run in runs if run.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    return {
        "key": scenario.key, "title": scenario.title, "server": scenario.server,
        "tool": tool, "group": scenario.group,
        "rps": median("rps"), "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
        "errors": sum(run["errors"]["non_2xx"] + run["errors"]["socket"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
        "runs": runs,
        "pool_left": len(pool) if scenario.mode == "once" else None,
        "paired_ratio": round(statistics.median(pairs), 3) if pairs else None,
        "remeasured": remeasured,
        "paired_ceiling_rps": median("ceiling_rps"),
    }


# --- the shop's data and fixtures --------------------------------------------------------------


def migrate(database_url: str) -> None:
    env = {**os.environ, "FLASK_ENV": "testing", "SHOP_SKIP_DOTENV": "1",
           "DATABASE_URL": database_url, "FLASK_APP": "run.py", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_env(database_url: str, redis_url: str, stripe_url: str, media: Path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PROMETHEUS_", "GUNICORN_", "CACHE_"))}
    env.update(
        FLASK_ENV="production", SHOP_SKIP_DOTENV="1", PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=SECRET_KEY,
        STRIPE_API_KEY="sk_test_fake_shop_key", STRIPE_WEBHOOK_SECRET="whsec_fake_shop_secret",
        STRIPE_API_BASE=stripe_url, FRONTEND_SECRET_HEADER=FRONTEND_SECRET,
        MAIL_BACKEND="console", STORAGE_BACKEND="local", LOCAL_STORAGE_DIR=str(media),
        METRICS_ENABLED="false",
        # Login is the only rate-limited endpoint measured: its limit would be measured instead.
        RATELIMIT_ENABLED="false",
        # Tasks (order emails) queue on this run's own Redis database; no worker takes them.
        CELERY_TASK_DEFAULT_QUEUE=f"shop-bench-{os.getpid()}",
        GUNICORN_WORKERS=WORKERS, GUNICORN_THREADS=THREADS,
    )
    return env


def in_process_app(env: dict, **overrides):
    """The shop in this process, configured like the servers (SQL counts, minting tokens)."""
    import warnings

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from app import create_app

        warnings.filterwarnings("ignore", message=".*NullCache.*")

        config = {"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"],
                  "SECRET_KEY": SECRET_KEY, "STRIPE_API_KEY": env["STRIPE_API_KEY"],
                  "STRIPE_WEBHOOK_SECRET": env["STRIPE_WEBHOOK_SECRET"],
                  "STRIPE_API_BASE": env["STRIPE_API_BASE"], "MAIL_BACKEND": "console",
                  "STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": env["LOCAL_STORAGE_DIR"],
                  "FRONTEND_SECRET_HEADER": FRONTEND_SECRET, "LOG_LEVEL": "WARNING",
                  "RATELIMIT_ENABLED": False,
                  "CELERY_TASK_DEFAULT_QUEUE": env["CELERY_TASK_DEFAULT_QUEUE"], **overrides}
        return create_app(config, env="production")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def mint_cookies(app, database_url: str, user_ids: list[int]) -> list[str]:
    """A login session row and an access-token cookie for each user (what a login returns)."""
    import psycopg
    from flask_jwt_extended import create_access_token

    session_ids = [str(uuid.uuid4()) for _ in user_ids]
    with psycopg.connect(datagen.libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO auth_sessions (id, user_id, refresh_jti, remember_me, created_at, "
            "expires_at) SELECT s, u, gen_random_uuid()::text, false, now(), "
            "now() + interval '7 days' FROM unnest(%s::text[], %s::int[]) AS t(s, u)",
            (session_ids, user_ids),
        )
    with app.app_context():
        return [
            "access_token=" + create_access_token(identity=str(user), additional_claims={"sid": sid})
            for user, sid in zip(user_ids, session_ids, strict=True)
        ]


def ids(database_url: str, sql: str, *params) -> list:
    import psycopg

    with psycopg.connect(datagen.libpq_url(database_url)) as conn:
        return [row[0] for row in conn.execute(sql, params).fetchall()]


def login_cookie(port: int, email: str) -> str:
    status, headers, body = call(port, "POST", "/user/login",
                                 body={"email": email, "password": datagen.BENCH_PASSWORD})
    if status != 200:
        raise RuntimeError(f"login of {email} failed: {status} {body[:200]!r}")
    return cookie_from(headers)


def guest_with_lines(port: int, product_ids: list[int]) -> str:
    """A guest made over HTTP whose cart holds one unit of each product."""
    status, headers, body = call(port, "POST", f"/cart/{product_ids[0]}", body={"quantity": 1})
    if status != 200:
        raise RuntimeError(f"add to cart failed: {status} {body[:200]!r}")
    cookie = cookie_from(headers)
    for product_id in product_ids[1:]:
        status, _, body = call(port, "POST", f"/cart/{product_id}", body={"quantity": 1},
                               headers={"Cookie": cookie})
        if status != 200:
            raise RuntimeError(f"add to cart failed: {status} {body[:200]!r}")
    return cookie


def webhook_requests(sessions: list[dict]) -> list[dict]:
    from tests.support.fake_stripe import FakeStripe

    requests = []
    for session in sessions:
        data = {"id": session["id"], "object": "checkout.session", "status": "complete",
                "payment_status": "paid", "amount_total": session["amount_total"],
                "currency": "gbp", "customer": "cus_bench",
                "customer_details": {"email": f"{session['id']}@bench.shop"}, "metadata": {}}
        event = FakeStripe.event("checkout.session.completed", data)
        payload = json.dumps(event)
        signature = FakeStripe.sign(payload.encode())
        requests.append(post("/order/webhook", payload, headers={"Stripe-Signature": signature}))
    return requests


def stock_check(database_url: str, product_id: int) -> dict:
    import psycopg

    with psycopg.connect(datagen.libpq_url(database_url)) as conn:
        stock, reserved = conn.execute(
            "SELECT stock, reserved_stock FROM products WHERE id = %s", (product_id,)).fetchone()
        in_lines = conn.execute(
            "SELECT COALESCE(sum(quantity), 0) FROM cart_products WHERE product_id = %s",
            (product_id,)).fetchone()[0]
    return {"stock": stock, "reserved_stock": reserved, "units_in_carts": int(in_lines),
            "oversold_units": max(int(in_lines) - stock, 0, reserved - stock),
            "books_agree": reserved == int(in_lines)}


# --- SQL statements per request ----------------------------------------------------------------


def recorded_statements(app, request: dict, *, warm: bool = False):
    """The SQL statements one request runs through the test client on the same data, as
    (statement, parameters), and its response. With warm=True it is sent once first, so a
    cached read is recorded warm."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    # Our own Cookie headers, not a jar (Werkzeug's jar would replace them).
    client = app.test_client(use_cookies=False)

    def send():
        return client.open(request["path"], method=request["method"],
                           data=request.get("body"), headers=dict(request.get("headers") or {}))

    if warm:
        send()
    seen = []

    def listener(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = send()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen, response


def count_statements(app, requests: list[dict], *, warm: bool) -> list[dict]:
    """Statements each request runs (recorded_statements), with its status."""
    counts = []
    for request in requests:
        seen, response = recorded_statements(app, request, warm=warm)
        counts.append({"statements": len(seen), "status": response.status_code})
    return counts


def captured_statements(app, request: dict) -> list[str]:
    """The statements one request runs, with their values written in (as sent to PostgreSQL)."""
    import psycopg

    from app.extensions import db

    seen, response = recorded_statements(app, request)
    if response.status_code != 200:
        raise RuntimeError(f"{request['path']} answered {response.status_code}")
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as connection:
        cursor = psycopg.ClientCursor(connection)
        return [" ".join(cursor.mogrify(statement, parameters).split())
                for statement, parameters in seen]


def _cpu_times() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (Linux), or (0, 0) elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def database_alone(app, database_url: str, request: dict, seconds: float,
                   workdir: Path, *, commits: bool = False) -> dict | None:
    """What PostgreSQL alone serves of one request: the statements the request runs,
    replayed by pgbench (no Python, no HTTP) from as many connections as the shop's workers
    have threads, in a transaction each that is rolled back, or with `commits` one statement
    at a time as the shop's autocommit write runs them, each id that must be unique made anew.
    Also the share of the machine's CPU that was busy meanwhile: below 1, something other
    than the CPU (a row lock everybody queues for) set the rate. None without pgbench."""
    from run_tests import find_binary

    pgbench = find_binary("pgbench")
    if pgbench is None:
        return None
    statements = captured_statements(app, request)
    script = workdir / f"alone-{uuid.uuid4().hex[:8]}.sql"
    if commits:
        script.write_text("".join(
            _UUID_LITERAL.sub("gen_random_uuid()::text", line) + ";\n" for line in statements))
    else:
        script.write_text(
            "BEGIN;\n" + "".join(f"{line};\n" for line in statements) + "ROLLBACK;\n")
    clients = int(WORKERS) * int(THREADS)
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    busy_before, total_before = _cpu_times()
    finished = subprocess.run(
        [pgbench, "-n", "-M", "prepared", "-f", str(script), "-c", str(clients), "-j",
         WORKERS, "-T", str(max(int(seconds), 1)), url],
        capture_output=True, text=True, check=False)
    busy_after, total_after = _cpu_times()
    match = re.search(r"tps = ([0-9.]+)", finished.stdout)
    if finished.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed: {finished.stderr[-2000:]}")
    total = total_after - total_before
    return {"rps": round(float(match.group(1)), 1), "statements": len(statements),
            "clients": clients, "seconds": max(int(seconds), 1), "commits": commits,
            "cpu_busy": round((busy_after - busy_before) / total, 3) if total > 0 else None}


# --- the run ------------------------------------------------------------------------------------


def build_scenarios(info: dict, database_url: str, shop: Server, app, settings: Settings) -> list:
    hot, oversell, buy = (info["hot_product_id"], info["oversell_product_id"],
                          info["checkout_product_id"])
    in_stock = ids(database_url, "SELECT id FROM products WHERE stock >= 200 AND id < %s "
                   "ORDER BY id LIMIT 400", hot)
    customer = login_cookie(shop.port, info["history_customer_email"])
    admin = login_cookie(shop.port, info["admin_email"])
    cart5 = guest_with_lines(shop.port, in_stock[:5])
    categories = ids(database_url, "SELECT id FROM categories ORDER BY id")
    per_category = ids(database_url, "SELECT count(*) FROM products WHERE stock > 0 "
                       "GROUP BY category_id ORDER BY count(*) LIMIT 1")[0]
    deep_page = max(per_category // 9 - 1, 1)
    sorts = ["Price (High to Low)", "Price (Low to High)", "Name (A-Z)", "Name (Z-A)"]
    deep = [get(f"/product/?page={deep_page}&category_id={c}&sort_by={quote(s)}")
            for c in categories for s in sorts]
    order_ids = ids(database_url, "SELECT id FROM orders ORDER BY id DESC LIMIT 200")
    checkout_users = datagen.prepare_carts(database_url, product_id=buy, count=settings.pool,
                                           lines=1)
    paid = datagen.prepare_paid_snapshots(database_url, product_id=buy, count=settings.pool)
    body = json.dumps({"quantity": 1})
    return [
        Scenario("product_list_cached", "product list page 1 (cache warm)", "shop",
                 [get("/product/?page=1")]),
        Scenario("product_list_uncached", "product list page 1 (caching off)", "nocache",
                 [get("/product/?page=1")]),
        Scenario("product_list_deep", f"filtered+sorted page {deep_page} (caching off)",
                 "nocache", deep),
        Scenario("product_detail", "product detail", "shop",
                 [get(f"/product/{i}") for i in in_stock[:200]]),
        Scenario("featured", "featured products", "shop", [get("/product/featured-product")]),
        Scenario("categories", "categories", "shop", [get("/category/")]),
        Scenario("product_image", "product image", "shop",
                 [get(f"/product/product-image/{i}") for i in in_stock[:200]]),
        Scenario("cart_read", "cart read (5 lines)", "shop", [get("/cart/", cart5)]),
        Scenario("add_to_cart_guests", "add to cart, a new guest each", "shop",
                 [post(f"/cart/{i}", body) for i in in_stock]),
        Scenario("add_to_cart_contention", "add to cart, one product, new guests", "shop",
                 [post(f"/cart/{hot}", body)]),
        Scenario("checkout", "checkout session (fake Stripe)", "shop", [], tool="py", mode="once",
                 prepare=lambda: [post("/order/checkout", json.dumps(ADDRESS), cookie)
                                  for cookie in mint_cookies(app, database_url, checkout_users)]),
        Scenario("webhook", "webhook: paid session to order", "shop", [], tool="py", mode="once",
                 prepare=lambda: webhook_requests(paid)),
        Scenario("order_history", "customer order history page 1 (20 orders)", "shop",
                 [get("/order/?page=1", customer)]),
        Scenario("admin_orders", "admin order list page 1", "shop",
                 [get("/order/admin?page=1", admin)]),
        Scenario("admin_order_detail", "admin order detail", "shop",
                 [get(f"/order/admin/{i}", admin) for i in order_ids]),
        Scenario("dashboard", "admin dashboard (standard)", "shop",
                 [get("/user/admin/dashboard", admin)]),
        Scenario("login", "login (scrypt N=2^17)", "shop",
                 [post("/user/login", json.dumps({"email": info["history_customer_email"],
                                                  "password": datagen.BENCH_PASSWORD}))],
                 group="login"),
    ], {"customer": customer, "admin": admin, "cart5": cart5, "in_stock": in_stock,
        "oversell": oversell, "hot": hot, "buy": buy, "order_ids": order_ids}


def sql_counts(app, nocache_app, database_url: str, fixtures: dict, info: dict) -> dict:
    """Statements per request for each scenario, plus the page-size checks of the target."""
    customer, admin = fixtures["customer"], fixtures["admin"]
    body = json.dumps({"quantity": 1})
    users = datagen.prepare_carts(database_url, product_id=fixtures["buy"], count=1)
    checkout_cookie = mint_cookies(app, database_url, users)[0]
    paid = datagen.prepare_paid_snapshots(database_url, product_id=fixtures["buy"], count=1)
    one_line = guest_with_lines_in_process(app, fixtures["in_stock"][10:11])
    warm = {
        "product_list_cached": get("/product/?page=1"),
        "featured": get("/product/featured-product"),
        "categories": get("/category/"),
        "product_image": get(f"/product/product-image/{fixtures['in_stock'][0]}"),
        "dashboard": get("/user/admin/dashboard", admin),
        # The admin list's total comes from the order counters: the same statements warm and
        # right after an order write (below).
        "admin_orders": get("/order/admin?page=1", admin),
        "admin_orders_per_page_50": get("/order/admin?page=1&per_page=50", admin),
    }
    cold = {
        "product_list_uncached": get("/product/?page=1"),
        "product_list_deep": get(f"/product/?page=20&category_id=1&sort_by={quote('Price (High to Low)')}"),
        "product_list_per_page_1": get("/product/?page=1&per_page=1"),
        "product_list_per_page_50": get("/product/?page=1&per_page=50"),
        "featured_uncached": get("/product/featured-product"),
        "categories_uncached": get("/category/"),
        "dashboard_uncached": get("/user/admin/dashboard", admin),
    }
    fresh = {
        "product_detail": get(f"/product/{fixtures['in_stock'][0]}"),
        "cart_read": get("/cart/", fixtures["cart5"]),
        "cart_read_1_line": get("/cart/", one_line),
        "add_to_cart_guests": post(f"/cart/{fixtures['in_stock'][1]}", body),
        "add_to_cart_contention": post(f"/cart/{fixtures['hot']}", body),
        "checkout": post("/order/checkout", json.dumps(ADDRESS), checkout_cookie),
        "webhook": webhook_requests(paid)[0],
        "order_history": get("/order/?page=1", customer),
        "order_history_per_page_1": get("/order/?page=1&per_page=1", customer),
        "order_history_per_page_50": get("/order/?page=1&per_page=50", customer),
        "admin_orders_after_order_write": get("/order/admin?page=1", admin),
        "admin_order_detail": get(f"/order/admin/{fixtures['order_ids'][0]}", admin),
        "login": post("/user/login", json.dumps({"email": info["history_customer_email"],
                                                 "password": datagen.BENCH_PASSWORD})),
    }
    results = {}
    for (target_app, requests, is_warm) in ((app, warm, True), (nocache_app, cold, False),
                                            (app, fresh, False)):
        counted = count_statements(target_app, list(requests.values()), warm=is_warm)
        results.update(dict(zip(requests, counted, strict=True)))
    return results


def guest_with_lines_in_process(app, product_ids: list[int]) -> str:
    client = app.test_client(use_cookies=False)
    cookie = None
    for product_id in product_ids:
        headers = {"X-Frontend-Secret": FRONTEND_SECRET, "Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        response = client.post(f"/cart/{product_id}", data=json.dumps({"quantity": 1}),
                               headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        cookie = cookie or cookie_from(response.headers.items())
    return cookie


def oversell_burst(shop: Server, database_url: str, product_id: int, workdir: Path,
                   settings: Settings) -> dict:
    """Four times as many new guests as units, all at once, each asking for one unit."""
    before = stock_check(database_url, product_id)
    count = before["stock"] * 4
    result = run_loadgen(shop.port, [post(f"/cart/{product_id}", json.dumps({"quantity": 1}))],
                         60, "cycle", workdir, max_requests=count)
    after = stock_check(database_url, product_id)
    return {"requests": result["requests"], "accepted": result["statuses"].get("200", 0),
            "refused": result["statuses"].get("400", 0), "stock": after["stock"],
            "units_in_carts": after["units_in_carts"], "reserved_stock": after["reserved_stock"],
            "oversold_units": after["oversold_units"], "books_agree": after["books_agree"]}


def cold_dashboard(database_url: str, port: int, admin: str, times: int) -> dict:
    """Latency of the dashboard right after an order write, `times` times: each time an
    order's status is changed through the API (Processing -> Shipped, else Shipped ->
    Delivered), then one dashboard request is timed."""
    writes = [(order_id, {"status": "Shipped", "tracking_url": f"https://track.example/c{order_id}"})
              for order_id in ids(database_url, "SELECT id FROM orders WHERE status = 'Processing' "
                                  "ORDER BY id DESC LIMIT %s", times)]
    writes += [(order_id, {"status": "Delivered"})
               for order_id in ids(database_url, "SELECT id FROM orders WHERE status = 'Shipped' "
                                   "ORDER BY id DESC LIMIT %s", times)]
    if len(writes) < times:
        raise RuntimeError(f"only {len(writes)} orders can change status; {times} needed")
    latencies = []
    for order_id, change in writes[:times]:
        status, _, _ = call(port, "PUT", f"/order/admin/{order_id}", body=change,
                            headers={"Cookie": admin})
        if status != 200:
            raise RuntimeError(f"order status change answered {status}")
        started = time.perf_counter()
        status, _, _ = call(port, "GET", "/user/admin/dashboard", headers={"Cookie": admin})
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"dashboard answered {status}")
    return {"median_ms": round(statistics.median(latencies), 2),
            "runs_ms": [round(value, 2) for value in latencies]}


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": sys.version.split()[0]}


def run(args) -> dict:
    from run_tests import claim_redis_database, create_database, find_postgres, find_redis
    from tests.support.fake_stripe import FakeStripe

    settings = settings_for(args)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    media = workdir / "media"
    media.mkdir()
    tools = {"wrk": ensure_wrk(allow_install=not settings.smoke and not args.no_install)}
    if args.python_only:
        tools["wrk"] = None
    print(f"load: {'wrk + ' if tools['wrk'] else ''}benchmarks/loadgen.py; "
          f"{os.cpu_count()} CPUs shared by servers and load", flush=True)

    pg_server = find_postgres()
    redis_url = claim_redis_database(find_redis())
    database_url = create_database(pg_server)
    migrate(database_url)
    scale = datagen.SCALES["smoke" if settings.smoke else "standard"]
    print(f"data: {scale.name} scale", flush=True)
    info = datagen.generate(database_url, scale, progress=not settings.smoke)
    stripe = FakeStripe().start()
    env = server_env(database_url, redis_url, stripe.url, media)
    servers: dict[str, Server] = {}
    results: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "mode": ("smoke" if settings.smoke else "full") + (" partial" if settings.only else ""),
                     "machine": machine(),
                     "settings": {"warmup_s": settings.warmup, "duration_s": settings.duration,
                                  "repeats": settings.repeats, "connections": CONNECTIONS,
                                  "gunicorn_workers": int(WORKERS),
                                  "gunicorn_threads": int(THREADS)},
                     "data": {"standard": info}, "scenarios": [], "ceiling": {}}
    try:
        servers["ceiling"] = Server("ceiling", "benchmarks.ceiling_app:app", env, workdir)
        servers["shop"] = Server("shop", "run:app", env, workdir)
        servers["nocache"] = Server("nocache", "run:app", {**env, "CACHE_TYPE": "NullCache"},
                                    workdir)
        servers["floor"] = Server("floor", "benchmarks.floor_app:app", env, workdir)
        servers["ceiling"].wait_ready("/hello")
        servers["floor"].wait_ready("/hello")
        servers["shop"].wait_ready("/healthz")
        servers["nocache"].wait_ready("/healthz")
        results["command"] = " ".join(servers["shop"].command[1:-1]) + " APP"
        app = in_process_app(env)
        nocache_app = in_process_app(env, CACHE_TYPE="NullCache")
        scenarios, fixtures = build_scenarios(info, database_url, servers["shop"], app, settings)
        unknown = settings.only - {scenario.key for scenario in scenarios} - set(LARGE_KEYS)
        if unknown:
            known = ", ".join([scenario.key for scenario in scenarios] + list(LARGE_KEYS))
            raise SystemExit(f"--only: no scenario {', '.join(sorted(unknown))}; known: {known}")

        ceiling_tools = ["py"] + (["wrk"] if tools["wrk"] else [])
        for tool in ceiling_tools:
            scenario = Scenario(f"ceiling_{tool}", f"ceiling ({tool})", "ceiling",
                                [get("/hello")], tool=tool, group="ceiling")
            print(f"  {scenario.title} ...", flush=True)
            results["ceiling"][tool] = measure(scenario, servers["ceiling"], tools, settings,
                                               workdir)
        for scenario in scenarios:
            if not settings.wanted(scenario.key):
                continue
            print(f"  {scenario.title} ...", flush=True)
            if scenario.prepare is not None:
                scenario.requests = scenario.prepare()
            # Login has no target, and one production-strength hash outlasts a paired slice.
            beside = servers["ceiling"] if scenario.group != "login" else None
            outcome = measure(scenario, servers[scenario.server], tools, settings, workdir,
                              ceiling=beside)
            servers[scenario.server].wait_idle()
            outcome["memory_after"] = servers[scenario.server].memory()
            outcome["worker_restarts_so_far"] = servers[scenario.server].restarts()
            if scenario.key == "add_to_cart_contention":
                outcome["stock_check"] = stock_check(database_url, fixtures["hot"])
            if scenario.key in FLOORS:
                print("    its stack floor ...", flush=True)
                floor = Scenario(f"{scenario.key}_floor", f"{scenario.title}: stack floor",
                                 FLOORS[scenario.key], scenario.requests, group="floor")
                outcome["stack_floor"] = measure(floor, servers[floor.server], tools, settings,
                                                 workdir, ceiling=beside)
                servers[floor.server].wait_idle()
                if scenario.key == "add_to_cart_contention":
                    # The floor's adds are real ones: units reserved, books still agreeing.
                    outcome["stack_floor"]["stock_check"] = stock_check(database_url,
                                                                        fixtures["hot"])
            if scenario.key in ALONE:
                servers[scenario.server].wait_idle()
                outcome["database_alone"] = database_alone(
                    nocache_app, database_url, scenario.requests[0], settings.duration, workdir,
                    commits=ALONE[scenario.key])
            results["scenarios"].append(outcome)
        print("  ceiling again (drift) ...", flush=True)
        for tool in ceiling_tools:
            scenario = Scenario(f"ceiling_{tool}", f"ceiling ({tool})", "ceiling",
                                [get("/hello")], tool=tool, group="ceiling")
            results["ceiling"][f"{tool}_end"] = measure(scenario, servers["ceiling"], tools,
                                                        settings, workdir)
        print("  oversell check ...", flush=True)
        results["oversell"] = oversell_burst(servers["shop"], database_url, fixtures["oversell"],
                                             workdir, settings)
        results["dashboard_cold"] = {
            "standard": cold_dashboard(database_url, servers["shop"].port, fixtures["admin"],
                                       3 if settings.smoke else 7)}
        print("  SQL statements per request ...", flush=True)
        results["sql"] = sql_counts(app, nocache_app, database_url, fixtures, info)
        results["memory"] = {name: server.memory() for name, server in servers.items()}
        for server in servers.values():
            server.stop()
        servers.clear()

        if settings.large:
            results["large"] = run_large(pg_server, redis_url, env, tools, settings, workdir,
                                         results)
    finally:
        for server in servers.values():
            server.stop()
        stripe.stop()
        try:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
        except Exception:  # noqa: BLE001 - clean-up only
            pass
        if os.environ.get("SHOP_BENCH_KEEP"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    return results


def run_large(pg_server, redis_url, env, tools, settings, workdir, results) -> dict:
    """The large data set in a second database: the endpoints whose cost could grow with it."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    database_url = create_database_on(pg_server)
    migrate(database_url)
    print("data: large scale", flush=True)
    info = datagen.generate(database_url, datagen.SCALES["large"], progress=True)
    results["data"]["large"] = info
    env = {**env, "DATABASE_URL": database_url}
    shop = Server("shop-large", "run:app", env, workdir)
    try:
        shop.wait_ready("/healthz")
        admin = login_cookie(shop.port, info["admin_email"])
        customer = login_cookie(shop.port, info["history_customer_email"])
        scenarios = [
            Scenario("dashboard_large", "admin dashboard (large)", "shop",
                     [get("/user/admin/dashboard", admin)], group="large"),
            Scenario("admin_orders_large", "admin order list page 1 (large)", "shop",
                     [get("/order/admin?page=1", admin)], group="large"),
            Scenario("order_history_large", "customer order history (large)", "shop",
                     [get("/order/?page=1", customer)], group="large"),
            Scenario("product_list_cached_large", "product list page 1 (large, cache warm)",
                     "shop", [get("/product/?page=1")], group="large"),
        ]
        outcome = {"scenarios": []}
        for scenario in scenarios:
            if not settings.wanted(scenario.key):
                continue
            assert scenario.key in LARGE_KEYS, scenario.key
            print(f"  {scenario.title} ...", flush=True)
            measured = measure(scenario, shop, tools, settings, workdir)
            shop.wait_idle()
            measured["memory_after"] = shop.memory()
            measured["worker_restarts_so_far"] = shop.restarts()
            outcome["scenarios"].append(measured)
        results["dashboard_cold"]["large"] = cold_dashboard(database_url, shop.port, admin, 7)
        outcome["memory"] = shop.memory()
        return outcome
    finally:
        shop.stop()


def create_database_on(server_url: str) -> str:
    from run_tests import create_database

    return create_database(server_url)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the shop against a hello-world ceiling.")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny data, about a second per scenario, no large data set (CI)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per scenario")
    parser.add_argument("--pool", type=int, default=4000,
                        help="prepared carts and paid sessions for the checkout and webhook runs")
    parser.add_argument("--skip-large", action="store_true",
                        help="skip the large data set (1,000,000 orders)")
    parser.add_argument("--python-only", action="store_true",
                        help="use benchmarks/loadgen.py for every scenario, even when wrk exists")
    parser.add_argument("--only", metavar="KEYS",
                        help="comma-separated scenario keys to measure (e.g. "
                             "add_to_cart_contention); the report is named <date>-partial")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for <date>.json, <date>.md and <date>.png")
    args = parser.parse_args(argv)
    results = run(args)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = dt.date.today().isoformat() + ("-smoke" if args.smoke else "")
    stem += "-partial" if args.only else ""
    # A second run on the same day gets its own files; an earlier report is never replaced.
    taken, number = stem, 1
    while (args.output / f"{stem}.json").exists():
        number += 1
        stem = f"{taken}-{number}"
    paths = report.write(results, args.output, stem)
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
