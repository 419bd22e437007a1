"""The Celery application bound to Flask: every task runs inside an app context.

Without REDIS_URL (the embedded default) tasks run in-process (eager). Schedules live in
Redis through RedBeat; `celery -A celery_worker.celery beat` runs the scheduler.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

from celery import Celery, Task
from flask import Flask

TASK_MODULES = ("app.emails.tasks", "app.cart.tasks", "app.orders.tasks", "app.auth.tasks")


def beat_schedule() -> dict:
    return {
        "delete-old-guests": {
            "task": "app.auth.tasks.delete_old_guest_accounts",
            "schedule": timedelta(minutes=15),
        },
        "reconcile-checkouts": {
            "task": "app.orders.tasks.reconcile_checkouts",
            "schedule": timedelta(minutes=15),
        },
        "relay-outbox-emails": {
            "task": "app.emails.tasks.relay_outbox_emails",
            "schedule": timedelta(minutes=1),
        },
        "release-stale-carts": {
            "task": "app.cart.tasks.release_stale_carts",
            "schedule": timedelta(minutes=10),
        },
        "unlock-stale-checkouts": {
            "task": "app.cart.tasks.unlock_stale_checkouts",
            "schedule": timedelta(minutes=10),
        },
        "repair-reserved-stock": {
            "task": "app.cart.tasks.repair_reserved_stock",
            "schedule": timedelta(hours=1),
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
        broker_transport_options={"visibility_timeout": config["CELERY_VISIBILITY_TIMEOUT"]},
        redbeat_redis_url=redis_url,
        redbeat_redis_options={},
        # Beat extends its leader lock every loop; if it dies, a standby beat takes over once
        # the lock expires (2.5 minutes) instead of after RedBeat's default 25.
        beat_max_loop_interval=30,
        redbeat_lock_timeout=150,
        # RedBeat appends entry names (and ":schedule", ":lock") straight to the prefix.
        redbeat_key_prefix=config["REDBEAT_KEY_PREFIX"].rstrip(":") + ":",
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_schedule=beat_schedule(),
        timezone="UTC",
        include=list(TASK_MODULES),
    )
    celery.conf.task_default_queue = config["CELERY_TASK_DEFAULT_QUEUE"]
    # Read by app.core.metrics when a worker starts.
    celery.conf.shop_worker_metrics_port = config["WORKER_METRICS_PORT"]
    for module in TASK_MODULES:
        importlib.import_module(module)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
