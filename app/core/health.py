"""Health endpoints for load balancers and orchestrators: /healthz and /readyz."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from sqlalchemy import text

log = logging.getLogger(__name__)


def _database_answers() -> bool:
    from app.extensions import db

    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:
        log.warning("readiness: database unavailable (%s)", exc.__class__.__name__)
        return False


def _redis_answers() -> bool:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return True  # the embedded default runs without Redis
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except Exception as exc:
        log.warning("readiness: redis unavailable (%s)", exc.__class__.__name__)
        return False


def register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        """The process answers."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        """PostgreSQL and Redis answer; 503 otherwise."""
        checks = {"database": _database_answers(), "redis": _redis_answers()}
        ready = all(checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        if not ready:
            body["error"] = "Service temporarily unavailable. Please try again later."
            body["code"] = "service_unavailable"
        return jsonify(body), 200 if ready else 503
