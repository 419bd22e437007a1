"""`python run.py` on the embedded default: SQLite, in-process tasks, console email."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_py_serves_the_api_with_no_services(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_DEFAULT_QUEUE"}}
    env.update(
        FLASK_ENV="development",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        LOCAL_STORAGE_DIR=str(tmp_path / "media"),
        LOG_FORMAT="text",
    )
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "run.py did not start"
            time.sleep(0.3)
        signup = requests.post(
            f"{base}/user/signup",
            json={"full_name": "Dev", "email": "dev@example.com", "password": "password123"},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
        assert signup.json()["role"] == "admin"
        login = requests.post(
            f"{base}/user/login",
            json={"email": "dev@example.com", "password": "password123", "remember_me": False},
            timeout=10,
        )
        assert login.json() == {"error": "Email not verified", "code": "email_not_verified"}
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        contact = requests.post(
            f"{base}/user/contact-us",
            json={"from_name": "Dev", "from_email": "dev@example.com", "subject": "Hi", "message": "Hello"},
            timeout=10,
        )
        assert contact.status_code == 200, contact.text
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "/login/" in output  # the verification email went to the log
