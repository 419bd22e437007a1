"""Configuration classes, chosen by FLASK_ENV.

Every setting comes from an environment variable (a `.env` file is read when present).
`development` fills in embedded defaults so the API runs on a bare machine; `production`
refuses to start without its secrets; `testing` is what the test suite uses.
`.env.example` documents every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

try:  # python-dotenv is a runtime dependency, but config must import before it is installed
    from dotenv import load_dotenv
except ImportError:  # pragma: no cover
    load_dotenv = None

BASE_DIR = Path(__file__).resolve().parent

if load_dotenv is not None and os.environ.get("SHOP_SKIP_DOTENV") != "1":
    load_dotenv(BASE_DIR / ".env", override=False)


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the application."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


class BaseConfig:
    """Settings shared by every environment. Read at class creation from the environment."""

    ENV_NAME = "base"

    SECRET_KEY = env_str("SECRET_KEY")
    PORT = env_int("PORT", 5050)

    # --- database -------------------------------------------------------------------------
    SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Connections idle for a while are tested before use (app/core/db.py), not every checkout.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

    # --- redis, cache, limits, celery -------------------------------------------------------
    REDIS_URL = env_str("REDIS_URL")

    # --- frontend ---------------------------------------------------------------------------
    FRONTEND_ORIGIN_URL = env_str("FRONTEND_ORIGIN_URL", "http://localhost:3000")
    FRONTEND_PUBLIC_URL = env_str("FRONTEND_PUBLIC_URL", "http://localhost:3000")
    FRONTEND_SECRET_HEADER = env_str("FRONTEND_SECRET_HEADER")
    ENFORCE_FRONTEND_SECRET = False
    # Number of reverse proxies in front of the API whose X-Forwarded-* headers are trusted.
    TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

    # --- tokens and cookies ------------------------------------------------------------------
    JWT_TOKEN_LOCATION = ["cookies"]
    JWT_ACCESS_COOKIE_NAME = "access_token"
    JWT_REFRESH_COOKIE_NAME = "refresh_token"
    JWT_ACCESS_COOKIE_PATH = "/"
    JWT_REFRESH_COOKIE_PATH = "/"
    # Cross-site request forgery is refused by the Origin check in core.security instead of
    # double-submit cookies, because the storefront sends no CSRF header.
    JWT_COOKIE_CSRF_PROTECT = False
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=30)
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=7)
    REMEMBER_ME_REFRESH_EXPIRES = timedelta(days=30)
    GUEST_REFRESH_EXPIRES = timedelta(days=7)
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]
    JWT_ERROR_MESSAGE_KEY = "error"
    COOKIE_SECURE = env_bool("COOKIE_SECURE", True)
    COOKIE_SAMESITE = env_str("COOKIE_SAMESITE", "Lax")

    # Password hashing (core.security): OWASP's scrypt floor is N=2^17, r=8, p=1.
    PASSWORD_HASH_METHOD = env_str("PASSWORD_HASH_METHOD", "scrypt:131072:8:1")
    PASSWORD_MIN_LENGTH = 8
    PASSWORD_MAX_LENGTH = 128

    EMAIL_TOKEN_MAX_AGE_SECONDS = 3600
    EMAIL_COOLDOWN_SECONDS = env_int("EMAIL_COOLDOWN_SECONDS", 60)

    # --- rate limits (Flask-Limiter syntax) -------------------------------------------------
    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "30 per minute")
    LOGIN_ACCOUNT_RATE_LIMIT = env_str("LOGIN_ACCOUNT_RATE_LIMIT", "5 per minute;30 per hour")
    SIGNUP_RATE_LIMIT = env_str("SIGNUP_RATE_LIMIT", "10 per minute;200 per day")
    EMAIL_REQUEST_RATE_LIMIT = env_str("EMAIL_REQUEST_RATE_LIMIT", "10 per minute;100 per day")
    EMAIL_ACCOUNT_RATE_LIMIT = env_str("EMAIL_ACCOUNT_RATE_LIMIT", "3 per minute;20 per day")
    CONTACT_RATE_LIMIT = env_str("CONTACT_RATE_LIMIT", "2 per day")
    # New guests (an add-to-cart without any auth cookie) per client address.
    GUEST_RATE_LIMIT = env_str("GUEST_RATE_LIMIT", "60 per minute;1000 per day")

    # --- email ------------------------------------------------------------------------------
    MAIL_BACKEND = env_str("MAIL_BACKEND", "console")
    MAILGUN_API_KEY = env_str("MAILGUN_API_KEY")
    MAILGUN_DOMAIN_NAME = env_str("MAILGUN_DOMAIN_NAME")
    MAILGUN_SENDER_EMAIL = env_str("MAILGUN_SENDER_EMAIL", "Shop <no-reply@shop.local>")
    MAILGUN_API_BASE = env_str("MAILGUN_API_BASE", "https://api.mailgun.net")
    MAILGUN_TIMEOUT_SECONDS = env_float("MAILGUN_TIMEOUT_SECONDS", 10.0)
    CONTACT_US_EMAIL = env_str("CONTACT_US_EMAIL")
    EMAIL_RETRY_BACKOFF_SECONDS = env_int("EMAIL_RETRY_BACKOFF_SECONDS", 30)
    EMAIL_MAX_RETRIES = env_int("EMAIL_MAX_RETRIES", 8)

    # --- payments ---------------------------------------------------------------------------
    STRIPE_API_KEY = env_str("STRIPE_API_KEY")
    STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
    STRIPE_CURRENCY = env_str("STRIPE_CURRENCY", "gbp")

    # --- storage ----------------------------------------------------------------------------
    STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
    GOOGLE_CLOUD_STORAGE_BUCKET_NAME = env_str("GOOGLE_CLOUD_STORAGE_BUCKET_NAME", "shop-images")
    STORAGE_EMULATOR_HOST = env_str("STORAGE_EMULATOR_HOST")
    GOOGLE_APPLICATION_CREDENTIALS = env_str("GOOGLE_APPLICATION_CREDENTIALS")
    LOCAL_STORAGE_DIR = env_str("LOCAL_STORAGE_DIR", str(BASE_DIR / "instance" / "media"))
    STORAGE_TIMEOUT_SECONDS = 30.0
    # Product image uploads: largest file and largest picture (width x height) accepted.
    IMAGE_MAX_BYTES = 5 * 1024 * 1024
    IMAGE_MAX_PIXELS = 25_000_000

    # --- catalogue cache ----------------------------------------------------------------------
    # Lifetime of a cached catalogue read; writes make entries obsolete at once (versioned keys).
    CATALOG_CACHE_SECONDS = 300
    # Flask-Caching backend of the read caches; unset = RedisCache with REDIS_URL. "NullCache"
    # turns every read cache off (the benchmarks measure the uncached path this way).
    CACHE_TYPE = env_str("CACHE_TYPE")

    # --- background jobs --------------------------------------------------------------------
    CART_UNLOCK_TIME_HOURS = env_float("CART_UNLOCK_TIME_HOURS", 24)
    RESERVED_STOCK_CLEANUP_HOURS = env_float("RESERVED_STOCK_CLEANUP_HOURS", 1)
    DELETE_GUEST_USERS_DAYS = env_float("DELETE_GUEST_USERS_DAYS", 7)
    # Limits that keep one cart (a script's guest included) from reserving the whole shop.
    CART_MAX_QUANTITY_PER_LINE = env_int("CART_MAX_QUANTITY_PER_LINE", 10)
    CART_MAX_LINES = env_int("CART_MAX_LINES", 50)
    CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2)
    CELERY_TASK_ALWAYS_EAGER = False
    CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
    # Seconds before Redis hands a task that a worker took but never acknowledged (the worker
    # died) to another worker. Longer than the slowest task and the longest retry countdown.
    CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
    # Prefix of RedBeat's keys in Redis (schedule, entries, the leader lock of beat).
    REDBEAT_KEY_PREFIX = env_str("REDBEAT_KEY_PREFIX", "redbeat")

    # --- serving ----------------------------------------------------------------------------
    GUNICORN_WORKERS = env_int("GUNICORN_WORKERS", 2)
    SERVICE_ROLE = env_str("SERVICE_ROLE", "backend")
    LOG_FORMAT = env_str("LOG_FORMAT", "json")
    LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
    # Access-log lines wait in memory this long and are written together (0: each at once).
    ACCESS_LOG_FLUSH_SECONDS = env_float("ACCESS_LOG_FLUSH_SECONDS", 0.5)
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 8 * 1024 * 1024)
    MAX_JSON_BODY_BYTES = env_int("MAX_JSON_BODY_BYTES", 64 * 1024)

    # --- metrics (Prometheus) ---------------------------------------------------------------
    METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
    # Bearer token that /metrics requires when set (required in production).
    METRICS_TOKEN = env_str("METRICS_TOKEN")
    # Port on which a `celery` worker serves its own metrics (task outcomes); 0 = none.
    WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)

    # --- API documentation (flask-smorest) -------------------------------------------------
    API_TITLE = "Shop API"
    API_VERSION = "1.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"

    @classmethod
    def finalise(cls, config: dict) -> None:
        """Fill derived values into the Flask config dict; raise ConfigError when unusable."""
        config["JWT_SECRET_KEY"] = config["SECRET_KEY"]
        config["JWT_COOKIE_SECURE"] = config["COOKIE_SECURE"]
        config["JWT_COOKIE_SAMESITE"] = config["COOKIE_SAMESITE"]
        if config["COOKIE_SAMESITE"] not in {"Lax", "Strict", "None"}:
            raise ConfigError("COOKIE_SAMESITE must be Lax, Strict or None")
        if config["MAIL_BACKEND"] not in {"mailgun", "console"}:
            raise ConfigError("MAIL_BACKEND must be mailgun or console")
        if config["STORAGE_BACKEND"] not in {"gcs", "local"}:
            raise ConfigError("STORAGE_BACKEND must be gcs or local")
        if config["LOG_FORMAT"] not in {"json", "text"}:
            raise ConfigError("LOG_FORMAT must be json or text")
        if not 0 <= config["ACCESS_LOG_FLUSH_SECONDS"] <= 60:
            raise ConfigError("ACCESS_LOG_FLUSH_SECONDS must be between 0 and 60")
        redis_url = config.get("REDIS_URL")
        if not config.get("CACHE_TYPE"):
            config["CACHE_TYPE"] = "RedisCache" if redis_url else "SimpleCache"
        if redis_url:
            config.setdefault("CACHE_REDIS_URL", redis_url)
        config.setdefault("CACHE_DEFAULT_TIMEOUT", 300)
        config.setdefault("CACHE_KEY_PREFIX", "shop:cache:")
        if config["CACHE_TYPE"] == "RedisCache":
            # A Redis that stops answering must cost little: catalogue reads fall back to the
            # database.
            config.setdefault("CACHE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
        config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
        config.setdefault("RATELIMIT_KEY_PREFIX", "shop:limits")
        # Limits fail open: a Redis outage must not take the shop down.
        config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
        config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
        if not redis_url:
            config["CELERY_TASK_ALWAYS_EAGER"] = True


class DevelopmentConfig(BaseConfig):
    """Embedded defaults: SQLite, in-process tasks, console email, local images."""

    ENV_NAME = "development"
    # Contact-form messages are printed to the log like every email, so any address will do.
    CONTACT_US_EMAIL = env_str("CONTACT_US_EMAIL", "owner@shop.local")
    LOG_FORMAT = env_str("LOG_FORMAT", "text")
    COOKIE_SAMESITE = env_str("COOKIE_SAMESITE", "Lax")
    COOKIE_SECURE = env_bool("COOKIE_SECURE", False)

    @classmethod
    def finalise(cls, config: dict) -> None:
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = "development-only-secret-key-change-me-0123456789"
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            instance = BASE_DIR / "instance"
            instance.mkdir(exist_ok=True)
            config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'shop.sqlite3'}"
        super().finalise(config)


class ProductionConfig(BaseConfig):
    """Refuses to start when a secret or service it needs is missing."""

    ENV_NAME = "production"
    ENFORCE_FRONTEND_SECRET = True
    MAIL_BACKEND = env_str("MAIL_BACKEND", "mailgun")
    STORAGE_BACKEND = env_str("STORAGE_BACKEND", "gcs")

    REQUIRED = (
        "SECRET_KEY",
        "SQLALCHEMY_DATABASE_URI",
        "REDIS_URL",
        "STRIPE_API_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "FRONTEND_SECRET_HEADER",
    )

    @classmethod
    def finalise(cls, config: dict) -> None:
        missing = [name for name in cls.REQUIRED if not config.get(name)]
        if config.get("MAIL_BACKEND") == "mailgun":
            missing += [
                name
                for name in ("MAILGUN_API_KEY", "MAILGUN_DOMAIN_NAME")
                if not config.get(name)
            ]
        if missing:
            names = ", ".join("DATABASE_URL" if m == "SQLALCHEMY_DATABASE_URI" else m for m in missing)
            raise ConfigError(f"Production configuration is missing: {names}")
        if len(config["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
        if config.get("METRICS_ENABLED") and not config.get("METRICS_TOKEN"):
            raise ConfigError("METRICS_ENABLED needs METRICS_TOKEN in production")
        super().finalise(config)


class TestingConfig(BaseConfig):
    """Used by the test suite: real PostgreSQL and Redis from the environment."""

    ENV_NAME = "testing"
    TESTING = True
    LOG_FORMAT = env_str("LOG_FORMAT", "text")
    LOG_LEVEL = env_str("LOG_LEVEL", "WARNING")
    # Tests read the lines a request logged right after it.
    ACCESS_LOG_FLUSH_SECONDS = env_float("ACCESS_LOG_FLUSH_SECONDS", 0.0)
    SECRET_KEY = env_str("SECRET_KEY", "testing-secret-key-0123456789abcdef0123456789")
    # Cheap hashes keep the suite fast; production parameters are tested on their own.
    PASSWORD_HASH_METHOD = env_str("PASSWORD_HASH_METHOD", "scrypt:1024:8:1")
    # Limits stay on (one limiter serves every app in the test process); they are just high
    # unless a test asks for low ones.
    LOGIN_RATE_LIMIT = "1000 per minute"
    LOGIN_ACCOUNT_RATE_LIMIT = "1000 per minute"
    SIGNUP_RATE_LIMIT = "1000 per minute"
    EMAIL_REQUEST_RATE_LIMIT = "1000 per minute"
    EMAIL_ACCOUNT_RATE_LIMIT = "1000 per minute"
    CONTACT_RATE_LIMIT = "1000 per minute"
    GUEST_RATE_LIMIT = "1000 per minute"
    COOKIE_SECURE = env_bool("COOKIE_SECURE", True)
    EMAIL_RETRY_BACKOFF_SECONDS = env_int("EMAIL_RETRY_BACKOFF_SECONDS", 1)
    CELERY_TASK_ALWAYS_EAGER = True

    @classmethod
    def finalise(cls, config: dict) -> None:
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError("Tests need DATABASE_URL (run them with python run_tests.py)")
        eager = config.get("CELERY_TASK_ALWAYS_EAGER", True)
        super().finalise(config)
        config["CELERY_TASK_ALWAYS_EAGER"] = eager


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def config_class(name: str | None = None) -> type[BaseConfig]:
    name = name or env_str("FLASK_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"FLASK_ENV must be one of {', '.join(CONFIGS)}, got {name!r}") from exc
