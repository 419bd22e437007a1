"""The stack floor of a new guest's add to cart: the least that the stack the design prescribes
(Flask, flask-smorest and marshmallow, SQLAlchemy on psycopg 3, flask-jwt-extended, redis-py)
must do to answer `POST /cart/<product_id>` for a shopper without a cookie, served by the same
gunicorn command and settings as the shop (`benchmarks.floor_app:app`).

Per request it does only this: parse and validate the body with the shop's schema, run the
shop's own one-statement add for a new guest (the guest, its login session, its cart, the line
and the reservation, committing on its own) through a SQLAlchemy engine, mint the guest's
access and refresh tokens and set their cookies, publish the product's tag on Redis once, and
dump the line with the shop's response schema. What the shop does besides (the
frontend-secret check, the guest rate limit, the ORM session, the access log, the request id,
error handling, the wait that makes the announcement reach every process before the answer)
is left out, so what this reaches of the ceiling bounds what the shop's endpoint can reach
with this stack on the machine.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    set_access_cookies,
    set_refresh_cookies,
)
from flask_smorest import Api, Blueprint
from sqlalchemy import create_engine

from app.cart.schemas import CartProductSchema, CartQuantitySchema
from app.cart.services import _NEW_GUEST_PG

CHANNEL = "shop-bench-floor"
GUEST_LIFETIME = timedelta(days=7)

app = Flask(__name__)
app.config.update(
    API_TITLE="floor",
    API_VERSION="1",
    OPENAPI_VERSION="3.0.3",
    JWT_SECRET_KEY=os.environ.get("SECRET_KEY", "floor-secret-" + "k" * 40),
    JWT_TOKEN_LOCATION=["cookies"],
    JWT_ACCESS_COOKIE_NAME="access_token",
    JWT_REFRESH_COOKIE_NAME="refresh_token",
    JWT_COOKIE_CSRF_PROTECT=False,
    JWT_COOKIE_SECURE=True,
    JWT_COOKIE_SAMESITE="Lax",
    JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=30),
    CART_MAX_QUANTITY_PER_LINE=int(os.environ.get("CART_MAX_QUANTITY_PER_LINE", "10")),
)
JWTManager(app)
api = Api(app)
blp = Blueprint("floor", __name__, url_prefix="/cart")
_LINE_SCHEMA = CartProductSchema()
_lock = threading.Lock()
_shared: dict = {}


def _clients():
    """This process's engine and Redis client (made after gunicorn forks the worker)."""
    pid = os.getpid()
    if _shared.get("pid") != pid:
        with _lock:
            if _shared.get("pid") != pid:
                url = os.environ["DATABASE_URL"]
                _shared.update(
                    engine=create_engine(
                        url, pool_size=8, max_overflow=0, isolation_level="AUTOCOMMIT"
                    ),
                    redis=redis.Redis.from_url(os.environ["REDIS_URL"]),
                    pid=pid,
                )
    return _shared["engine"], _shared["redis"]


@app.get("/hello")
def hello():
    """Readiness, as the ceiling answers it."""
    return jsonify({"message": "hello", "ok": True})


@blp.route("/<int:product_id>", methods=["POST"])
@blp.arguments(CartQuantitySchema)
def add_to_cart(data, product_id):
    """A new guest's first add: one statement, two tokens, one announcement."""
    engine, bus = _clients()
    now = datetime.now(UTC)
    session_id, refresh_jti = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.connect() as connection:
        row = connection.execute(
            _NEW_GUEST_PG,
            {
                "product": product_id,
                "units": data["quantity"],
                "now": now,
                "session_id": session_id,
                "refresh_jti": refresh_jti,
                "expires": now + GUEST_LIFETIME,
            },
        ).first()
    if row is None:
        return jsonify({"error": "Not enough stock"}), 400
    bus.publish(CHANNEL, f"t product:{product_id}")
    claims = {"sid": session_id}
    access = create_access_token(identity=str(row.guest_id), additional_claims=claims)
    refresh = create_refresh_token(
        identity=str(row.guest_id),
        additional_claims={**claims, "jti": refresh_jti},
        expires_delta=GUEST_LIFETIME,
    )
    response = jsonify(
        _LINE_SCHEMA.dump(
            {
                "id": row.line_id,
                "quantity": data["quantity"],
                "product_id": product_id,
                "cart_id": row.cart_id,
            }
        )
    )
    max_age = int(GUEST_LIFETIME.total_seconds())  # a guest's cookies outlive the browser
    set_access_cookies(response, access, max_age=max_age)
    set_refresh_cookies(response, refresh, max_age=max_age)
    return response


api.register_blueprint(blp)
