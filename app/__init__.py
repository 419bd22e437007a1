"""The shop API: create_app() builds the Flask application with every domain registered."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import ConfigError, config_class

log = logging.getLogger(__name__)


def create_app(config: dict | None = None, *, env: str | None = None) -> Flask:
    """Build the app. `config` overrides settings read from the environment (tests use it)."""
    from app.core.edge import ShopFlask

    app = ShopFlask(__name__, instance_relative_config=False)
    settings = config_class(env)
    app.config.from_object(settings)
    if config:
        app.config.update(config)
    settings.finalise(app.config)
    app.url_map.strict_slashes = False

    from app.core.logging import configure_logging

    configure_logging(app)
    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_prefix=count)

    register_extensions(app)
    register_blueprints(app)
    from app.core.errors import register_error_handlers

    register_error_handlers(app)
    register_cli(app)
    from app.core.edge import check_public_views

    check_public_views(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (every model on the metadata)
    from app.auth.tokens import register_jwt_callbacks
    from app.celery_app import celery_init_app
    from app.core.edge import register_edge
    from app.core.invalidation import register_invalidation
    from app.core.metrics import register_metrics
    from app.extensions import api, cache, db, jwt, limiter, migrate

    register_edge(app)
    db.init_app(app)
    _forgive_session_close_failures(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    jwt.init_app(app)
    register_jwt_callbacks(app)
    cache.init_app(app)
    register_invalidation(app)
    limiter.init_app(app)
    api.init_app(app)
    register_metrics(app)
    celery_init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.addresses.routes import blp as address_blp
    from app.admin.routes import blp as admin_blp
    from app.auth.routes import blp as user_blp
    from app.cart.routes import blp as cart_blp
    from app.catalog.media import media_blp
    from app.catalog.routes import category_blp, product_blp
    from app.contact.routes import blp as contact_blp
    from app.core.health import register_health
    from app.extensions import api
    from app.orders.routes import blp as order_blp

    api.register_blueprint(user_blp)
    api.register_blueprint(address_blp)
    api.register_blueprint(cart_blp)
    api.register_blueprint(category_blp)
    api.register_blueprint(product_blp)
    api.register_blueprint(order_blp)
    api.register_blueprint(contact_blp)
    api.register_blueprint(admin_blp)
    app.register_blueprint(media_blp)
    register_health(app)


def register_cli(app: Flask) -> None:
    from app.cli import register_commands

    register_commands(app)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


__all__ = ["ConfigError", "create_app"]


def _forgive_session_close_failures(app: Flask) -> None:
    """Close the request's session, tolerating a connection the database dropped meanwhile.

    The answer has been computed by then; a rollback that fails because PostgreSQL went away
    must not turn it into a 500. Runs before Flask-SQLAlchemy's own teardown (teardowns run
    in reverse order), which then finds nothing left to close."""
    from sqlalchemy.exc import DBAPIError

    from app.extensions import db

    @app.teardown_appcontext
    def _close_session(_exc):
        try:
            db.session.remove()
        except DBAPIError as error:
            logging.getLogger(__name__).warning(
                "database connection lost while closing the session: %s", error.__class__.__name__
            )
            db.session.registry.clear()
