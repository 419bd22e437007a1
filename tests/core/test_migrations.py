"""The migrations build the schema the models describe, on PostgreSQL and on SQLite."""


from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from app.extensions import db


def _diff(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            change
            for change in compare_metadata(context, db.metadata)
            # SQLite cannot reflect expression indexes; alembic reports them as missing.
            if not (engine.dialect.name == "sqlite" and "uq_categories_name_lower" in str(change))
        ]



def _migrate_and_compare(make_app, url):
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        assert _diff(db.engine) == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert _diff(db.engine) == []
        db.engine.dispose()


def test_migrations_match_models_on_postgresql(make_app, scratch_postgres):
    _migrate_and_compare(make_app, scratch_postgres)


def test_migrations_match_models_on_sqlite(make_app, tmp_path):
    _migrate_and_compare(make_app, f"sqlite:///{tmp_path / 'shop.sqlite3'}")


def test_sqlite_enforces_foreign_keys(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'fk.sqlite3'}"
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        engine.dispose()
        db.engine.dispose()
