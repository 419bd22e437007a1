"""Security at the edge: CORS (§1.7), cross-site request refusal, the production secret
header (§1.6) and the refusal to start without secrets."""

import pytest

from config import ConfigError

ORIGIN = "http://localhost:3000"


def test_preflight_for_spa_paths_is_answered_without_auth(client):
    for path in ("/user/login", "/user/edit-name", "/user/", "/user/delete-account"):
        response = client.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "Content-Type, X-Frontend-Secret",
            },
        )
        assert 200 <= response.status_code < 300, path
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
        assert "x-frontend-secret" in allowed_headers and "content-type" in allowed_headers
        assert "PUT" in response.headers["Access-Control-Allow-Methods"]


def test_cors_headers_are_on_error_responses_too(client):
    response = client.get("/user/authenticate", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


def test_other_origins_get_no_cors_grant(client):
    response = client.get("/user/authenticate", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cross_site_unsafe_request_with_cookies_is_refused(customer):
    client, _ = customer
    response = client.put(
        "/user/edit-name", json={"full_name": "Pwned"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "cross_origin_refused"
    response = client.delete("/user/delete-account", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert client.get("/user/").get_json() == {"full_name": "Casey Customer"}


def test_same_site_spa_requests_pass(customer):
    client, _ = customer
    response = client.put("/user/edit-name", json={"full_name": "Fine"}, headers={"Origin": ORIGIN})
    assert response.status_code == 200


def production_settings(**extra):
    return {
        "SECRET_KEY": "p" * 40,
        "STRIPE_API_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "FRONTEND_SECRET_HEADER": "s3cret-header",
        "MAIL_BACKEND": "console",
        "STORAGE_BACKEND": "local",
        **extra,
    }


def test_production_requires_the_frontend_secret_header(make_app):
    app = make_app(**production_settings())
    app.config["ENFORCE_FRONTEND_SECRET"] = True
    client = app.test_client()
    refused = client.get("/user/authenticate")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "Forbidden"
    wrong = client.get("/user/authenticate", headers={"X-Frontend-Secret": "nope"})
    assert wrong.status_code == 403
    allowed = client.get("/user/authenticate", headers={"X-Frontend-Secret": "s3cret-header"})
    assert allowed.status_code == 401
    preflight = client.options("/user/login", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.post("/order/webhook").status_code != 403


def test_production_app_enforces_the_header(mailgun):
    from app import create_app
    from tests.conftest import base_config

    app = create_app({**base_config(mailgun), **production_settings()}, env="production")
    assert app.config["ENFORCE_FRONTEND_SECRET"] is True
    assert app.config["COOKIE_SECURE"] is True
    assert app.test_client().get("/user/authenticate").status_code == 403


@pytest.mark.parametrize("missing", ["SECRET_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "FRONTEND_SECRET_HEADER", "REDIS_URL"])
def test_production_refuses_to_start_without_a_secret(mailgun, missing):
    from app import create_app
    from tests.conftest import base_config

    settings = {**base_config(mailgun), **production_settings(), missing: None}
    with pytest.raises(ConfigError, match=missing):
        create_app(settings, env="production")


def test_production_refuses_a_short_secret_key(mailgun):
    from app import create_app
    from tests.conftest import base_config

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({**base_config(mailgun), **production_settings(SECRET_KEY="short")}, env="production")
