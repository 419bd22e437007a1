"""The Celery application bound to Flask: every task runs inside an app context.

Without REDIS_URL (the embedded default) tasks run in-process (eager). Schedules live in
Redis through RedBeat; `celery -A celery_worker.celery beat` runs the scheduler.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

from celery import Celery, Task
from flask import Flask

TASK_MODULES = ("app.emails.tasks",)


def beat_schedule() -> dict:
    return {
        "relay-outbox-emails": {
            "task": "app.emails.tasks.relay_outbox_emails",
            "schedule": timedelta(minutes=1),
        },
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    config = app.config
    redis_url = config.get("REDIS_URL")
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=redis_url or "memory://localhost/",
        task_always_eager=config["CELERY_TASK_ALWAYS_EAGER"],
        task_eager_propagates=False,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=config["CELERY_WORKER_CONCURRENCY"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # A publish while Redis is down gives up quickly; the outbox relay covers the gap.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_transport_options={"visibility_timeout": 3600},
        redbeat_redis_url=redis_url,
        redbeat_key_prefix=config.get("REDBEAT_KEY_PREFIX", "redbeat"),
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_schedule=beat_schedule(),
        timezone="UTC",
        include=list(TASK_MODULES),
    )
    celery.conf.task_default_queue = config["CELERY_TASK_DEFAULT_QUEUE"]
    for module in TASK_MODULES:
        importlib.import_module(module)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
