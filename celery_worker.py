"""Celery entry point: `celery -A celery_worker.celery worker` (or `beat`).

A worker or beat process always talks to the broker: tasks are never run in-process here,
whatever the configuration says for the web process.
"""

from app import create_app

flask_app = create_app({"CELERY_TASK_ALWAYS_EAGER": False})
celery = flask_app.extensions["celery"]
