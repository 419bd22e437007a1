"""A local stand-in for Mailgun's HTTP API: accepts POST /v3/<domain>/messages the way
Mailgun does (basic auth, form fields) and keeps what it received, so tests read the emails
the shop really sent over HTTP. It can be told to fail (status 500) or to answer slowly
(`delay_seconds`); a slow request whose caller hangs up before the answer is dropped, as a
provider drops a request it had not yet accepted."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from base64 import b64decode
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.support.local_http import LocalHttpService


@dataclass
class CapturedEmail:
    domain: str
    fields: dict[str, str]

    @property
    def to(self) -> str:
        return self.fields.get("to", "")

    @property
    def subject(self) -> str:
        return self.fields.get("subject", "")

    @property
    def text(self) -> str:
        return self.fields.get("text", "")

    @property
    def html(self) -> str:
        return self.fields.get("html", "")


def _caller_hung_up(connection: socket.socket) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _wait_for_answer(connection: socket.socket, seconds: float) -> bool:
    """Wait `seconds` before answering; False when the caller hung up meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _caller_hung_up(connection):
            return False
        time.sleep(0.05)
    return not _caller_hung_up(connection)


@dataclass
class FakeMailgun(LocalHttpService):
    api_key: str = "key-test"
    messages: list[CapturedEmail] = field(default_factory=list)
    fail_with: int | None = None
    delay_seconds: float = 0.0
    requests_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeMailgun:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _reply(self, status: int, body: str) -> None:
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                with fake._lock:
                    fake.requests_seen += 1
                delay = fake.delay_seconds
                if delay and not _wait_for_answer(self.connection, delay):
                    return None
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "v3" or parts[2] != "messages":
                    return self._reply(404, '{"message": "not found"}')
                auth = self.headers.get("Authorization", "")
                expected = f"api:{fake.api_key}"
                if not auth.startswith("Basic ") or b64decode(auth[6:]).decode() != expected:
                    return self._reply(401, '{"message": "Invalid private key"}')
                if fake.fail_with:
                    return self._reply(fake.fail_with, '{"message": "failure"}')
                fields = {key: values[0] for key, values in parse_qs(raw).items()}
                for required in ("from", "to", "subject"):
                    if required not in fields:
                        return self._reply(400, f'{{"message": "{required} missing"}}')
                with fake._lock:
                    fake.messages.append(CapturedEmail(domain=parts[1], fields=fields))
                message_id = f"<{uuid.uuid4().hex}@fake.mailgun>"
                return self._reply(200, f'{{"id": "{message_id}", "message": "Queued. Thank you."}}')

        self._serve(Handler)
        return self

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.fail_with = None
            self.delay_seconds = 0.0
            self.requests_seen = 0

    def to(self, address: str) -> list[CapturedEmail]:
        return [message for message in self.messages if message.to == address]

    def wait_for(self, predicate, timeout: float = 20.0) -> list[CapturedEmail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [message for message in list(self.messages) if predicate(message)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError("no matching email arrived in time")
