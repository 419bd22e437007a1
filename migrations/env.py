"""Alembic environment for the shop, driven by Flask-Migrate (`flask db ...`).

Migrations run in batch mode so they also work on SQLite (the embedded default). On
PostgreSQL an advisory lock makes concurrent `upgrade` calls (several backends starting at
once) run one after the other.
"""

import logging

from alembic import context
from flask import current_app
from sqlalchemy import text

from app.core.db import Money, UTCDateTime

config = context.config
# Logging is configured by the application (JSON or text on stdout), not by alembic.ini.
logger = logging.getLogger("alembic.env")

MIGRATION_LOCK_ID = 7_246_001  # arbitrary, constant: the shop's migration lock

db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_, obj, autogen_context):
    """Write our column types as their plain SQLAlchemy equivalents, so migrations do not
    import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Money):
        return "sa.Numeric(precision=10, scale=2)"
    return False


def _skip_empty_autogenerate(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=db.metadata,
        literal_binds=True,
        render_item=render_item,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", _skip_empty_autogenerate)
    options.setdefault("render_item", render_item)
    options.setdefault("compare_type", True)
    with db.engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=db.metadata, **options)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
