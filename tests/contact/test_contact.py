"""POST /user/contact-us (contract §2.9, §3.10)."""

import pytest

from tests.auth.test_rate_limits import client_from

VALID = {"from_name": "Vera Visitor", "from_email": "vera@example.com", "subject": "Opening hours", "message": "Are you open on Sunday?\nThanks"}


@pytest.fixture
def contact_app(make_app):
    return make_app(CONTACT_US_EMAIL="owner@shop.example", CONTACT_RATE_LIMIT="2 per day")


def test_message_reaches_the_owner_with_reply_to_the_visitor(contact_app, mailgun):
    response = client_from(contact_app).post("/user/contact-us", json=VALID)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Email sent successfully, thanks for getting in touch!"}
    [email] = mailgun.to("owner@shop.example")
    assert email.subject == "Contact us: Opening hours"
    assert email.fields["from"] == "Shop <no-reply@mg.shop.test>"
    assert email.fields["h:Reply-To"] == "Vera Visitor <vera@example.com>"
    assert "Are you open on Sunday?" in email.text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"from_name": ""}, "Name"),
        ({"from_email": "not-an-email"}, "Invalid email provided"),
        ({"subject": "x" * 101}, "Subject"),
        ({"message": "x" * 501}, "Message"),
        ({"message": None}, "message"),
        ({"subject": "Hi\r\nBcc: everyone@example.com"}, "single line"),
        ({"from_name": "Vera\nBcc: x@example.com"}, "single line"),
        ({"from_email": "vera@example.com\r\nBcc: x@example.com"}, "email"),
        ({"extra": "field"}, "extra"),
    ],
)
def test_bad_fields_are_400_with_a_clear_message_and_nothing_is_sent(contact_app, mailgun, change, fragment):
    response = client_from(contact_app).post("/user/contact-us", json={**VALID, **change})
    assert response.status_code == 400
    assert fragment.lower() in response.get_json()["error"].lower()
    assert mailgun.messages == []


def test_empty_body(contact_app):
    response = client_from(contact_app).post("/user/contact-us", data="", content_type="application/json")
    assert response.get_json()["error"] == "No data provided"


def test_a_quoted_name_cannot_add_recipients(contact_app, mailgun):
    response = client_from(contact_app).post("/user/contact-us", json={**VALID, "from_name": 'Eve", <attacker@example.com>'})
    assert response.status_code == 200
    [email] = mailgun.messages
    assert email.to == "owner@shop.example"
    assert email.fields["h:Reply-To"].endswith("<vera@example.com>")


def test_third_message_of_the_day_is_429_per_client_address(contact_app):
    visitor = client_from(contact_app)
    assert [visitor.post("/user/contact-us", json=VALID).status_code for _ in range(2)] == [200, 200]
    third = visitor.post("/user/contact-us", json=VALID)
    assert third.status_code == 429
    assert third.get_json()["error"] == "Reached limit for today. Please try again later."
    assert client_from(contact_app).post("/user/contact-us", json=VALID).status_code == 200


def test_limit_keys_on_the_real_client_behind_a_trusted_proxy(make_app):
    app = make_app(CONTACT_US_EMAIL="owner@shop.example", CONTACT_RATE_LIMIT="1 per day", TRUSTED_PROXY_COUNT=1)
    proxy = client_from(app, "10.0.0.1")
    first = proxy.post("/user/contact-us", json=VALID, headers={"X-Forwarded-For": "203.0.113.7"})
    other = proxy.post("/user/contact-us", json=VALID, headers={"X-Forwarded-For": "203.0.113.8"})
    again = proxy.post("/user/contact-us", json=VALID, headers={"X-Forwarded-For": "203.0.113.7"})
    assert [first.status_code, other.status_code, again.status_code] == [200, 200, 429]


@pytest.mark.worker
def test_contact_email_is_delivered_by_the_real_worker(make_app, celery_worker_process, mailgun):
    app = make_app(CONTACT_US_EMAIL="owner@shop.example", CELERY_TASK_ALWAYS_EAGER=False)
    assert client_from(app).post("/user/contact-us", json=VALID).status_code == 200
    [email] = mailgun.wait_for(lambda m: m.to == "owner@shop.example")
    assert email.subject == "Contact us: Opening hours"


def test_without_a_contact_address_the_form_says_so(make_app):
    app = make_app(CONTACT_US_EMAIL=None)
    response = client_from(app).post("/user/contact-us", json=VALID)
    assert response.status_code == 503
    assert response.get_json()["error"]


def test_failed_attempts_do_not_use_up_the_daily_limit(contact_app):
    visitor = client_from(contact_app)
    assert visitor.post("/user/contact-us", json={**VALID, "from_email": "typo"}).status_code == 400
    assert visitor.post("/user/contact-us", json={}).status_code == 400
    assert [visitor.post("/user/contact-us", json=VALID).status_code for _ in range(3)] == [200, 200, 429]

