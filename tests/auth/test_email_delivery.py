"""Account emails travel through the outbox and a real Celery worker on the real Redis
broker to (fake) Mailgun over HTTP; outages delay them but never lose or repeat them."""

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.db import utcnow
from app.emails.models import OutboxEmail
from tests.conftest import PASSWORD, link_token, new_client

pytestmark = pytest.mark.worker


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def outbox(db_session):
    db_session.expire_all()
    return db_session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()


def test_verification_email_is_sent_by_the_worker_and_its_link_verifies(worker_app, mailgun, db_session):
    client = new_client(worker_app)
    response = client.post("/user/signup", json={"full_name": "W", "email": "w@example.com", "password": PASSWORD})
    assert response.status_code == 201
    [message] = mailgun.wait_for(lambda m: m.to == "w@example.com")
    wait_until(lambda: outbox(db_session)[0].sent_at is not None)
    assert outbox(db_session)[0].provider_message_id.endswith("@fake.mailgun>")
    token = link_token(message.text, "login")
    assert client.post(f"/user/verify-email/{token}").status_code == 200


def test_mailgun_outage_delays_the_email_then_it_is_sent_exactly_once(worker_app, mailgun, db_session):
    mailgun.fail_with = 500
    client = new_client(worker_app)
    response = client.post("/user/signup", json={"full_name": "O", "email": "o@example.com", "password": PASSWORD})
    assert response.status_code == 201
    wait_until(lambda: mailgun.requests_seen >= 2)
    [email] = outbox(db_session)
    assert email.sent_at is None and email.attempts >= 2 and "500" in email.last_error
    mailgun.fail_with = None
    mailgun.wait_for(lambda m: m.to == "o@example.com")
    wait_until(lambda: outbox(db_session)[0].sent_at is not None)
    time.sleep(1.5)
    assert len(mailgun.to("o@example.com")) == 1


def test_broker_outage_keeps_the_email_in_the_outbox_until_the_relay_sends_it(make_app, worker_app, mailgun, db_session):
    down = make_app(
        CELERY_TASK_ALWAYS_EAGER=False,
        REDIS_URL="redis://127.0.0.1:1/0",
        RATELIMIT_STORAGE_URI=os.environ["REDIS_URL"],
        CACHE_REDIS_URL=os.environ["REDIS_URL"],
    )
    response = new_client(down).post(
        "/user/signup", json={"full_name": "B", "email": "b@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    [email] = outbox(db_session)
    assert email.sent_at is None and mailgun.to("b@example.com") == []
    # Later, with the broker back, the periodic relay finds the stranded email.
    db_session.execute(update(OutboxEmail).values(created_at=utcnow() - timedelta(minutes=5)))
    db_session.commit()
    with worker_app.app_context():
        worker_app.extensions["celery"].tasks["app.emails.tasks.relay_outbox_emails"].apply_async()
    mailgun.wait_for(lambda m: m.to == "b@example.com")
    wait_until(lambda: outbox(db_session)[0].sent_at is not None)
    # Relaying again sends nothing twice.
    with worker_app.app_context():
        worker_app.extensions["celery"].tasks["app.emails.tasks.relay_outbox_emails"].apply_async()
        worker_app.extensions["celery"].tasks["app.emails.tasks.send_outbox_email"].apply_async(args=[email.id])
    time.sleep(1.5)
    assert len(mailgun.to("b@example.com")) == 1
