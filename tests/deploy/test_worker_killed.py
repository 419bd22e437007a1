"""A worker killed in the middle of a task: the broker hands the task to the next worker, and
its effect happens once.

The broker here is a Redis server of this test's own, so the short visibility timeout the
test needs cannot make Redis hand out other tests' tasks again."""

from __future__ import annotations

import secrets
import time

import pytest
from celery import Celery
from sqlalchemy import insert, select

from app.emails.models import OutboxEmail
from tests.deploy.support import Role, ThrowawayRedis, production_env, wait_until
from tests.support.fake_mailgun import FakeMailgun

VISIBILITY_TIMEOUT = 2


@pytest.fixture
def broker():
    server = ThrowawayRedis().start()
    yield server
    server.remove()


@pytest.fixture
def slow_mailgun():
    fake = FakeMailgun().start()
    yield fake
    fake.stop()


def test_a_worker_killed_while_sending_an_email_is_replaced_and_the_email_goes_out_once(
    app, broker, slow_mailgun, tmp_path
):
    from app.extensions import db

    queue = f"shop-deploy-{secrets.token_hex(4)}"
    env = production_env(
        REDIS_URL=broker.url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
        MAIL_BACKEND="mailgun",
        MAILGUN_API_BASE=slow_mailgun.url,
        MAILGUN_API_KEY=slow_mailgun.api_key,
        MAILGUN_DOMAIN_NAME="mg.shop.test",
        MAILGUN_TIMEOUT_SECONDS=60,
    )
    with app.app_context():
        email_id = db.session.execute(
            insert(OutboxEmail)
            .values(kind="receipt", to_address="once@example.com", subject="Once", text_body="Hi")
            .returning(OutboxEmail.id)
        ).scalar_one()
        db.session.commit()
        db.session.remove()

    # Mailgun is slow to answer: the worker is in the middle of the task when it dies.
    slow_mailgun.delay_seconds = 60
    first = Role("celery", env, tmp_path / "worker-1.log")
    producer = Celery("producer", broker=broker.url, set_as_current=False)
    try:
        producer.send_task("app.emails.tasks.send_outbox_email", args=[email_id], queue=queue)
        wait_until(
            lambda: slow_mailgun.requests_seen == 1,
            timeout=40,
            message=f"the worker never called Mailgun:\n{first.output()[-3000:]}",
        )
        called_at = time.monotonic()
        first.kill()
    finally:
        first.stop()
        producer.close()

    slow_mailgun.delay_seconds = 0
    # Redis hands the unacknowledged task out again once the visibility timeout has passed.
    time.sleep(max(0.0, called_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
    second = Role("celery", env, tmp_path / "worker-2.log")
    try:
        [message] = slow_mailgun.wait_for(lambda m: m.to == "once@example.com", timeout=40)
        assert message.subject == "Once"
        # Time for a duplicate to show up, were one on its way.
        time.sleep(1.0)
        assert len(slow_mailgun.to("once@example.com")) == 1
        assert slow_mailgun.requests_seen == 2
    finally:
        second.stop()

    with app.app_context():
        email = db.session.scalar(select(OutboxEmail).where(OutboxEmail.id == email_id))
        assert email.sent_at is not None
        # The killed attempt's transaction died with it; only the retry is on record.
        assert email.attempts == 1
        db.session.remove()
