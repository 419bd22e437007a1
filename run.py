"""Run the API: `python run.py`.

On first use this creates a local virtual environment (.venv) with the pinned requirements,
applies the database migrations and serves on PORT (default 5050). With no configuration it
uses the embedded default: SQLite under instance/, in-process tasks, local image storage and
emails printed to the log.
"""

from bootstrap import ensure_virtualenv

if __name__ == "__main__":
    ensure_virtualenv(dev=False)

from app import create_app  # noqa: E402

app = create_app()

if __name__ == "__main__":
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    import os

    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=app.config["PORT"], debug=False)
