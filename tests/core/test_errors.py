"""The one error format: unknown routes, wrong methods, huge bodies, unexpected failures."""


def test_unknown_route_is_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/user/login")
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_body_over_the_limit_is_413(client):
    response = client.post("/user/login", data=b"{" + b" " * (9 * 1024 * 1024) + b"}", content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]


def test_unexpected_failure_is_json_500_without_details(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert "secret internals" not in body["error"]
    assert body["code"] == "internal_error"


def test_collection_paths_answer_without_redirect(client):
    # The storefront calls /user/ exactly; both spellings answer directly.
    for path in ("/user/", "/user"):
        response = client.get(path)
        assert response.status_code == 401


def test_request_id_is_echoed_or_made(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_openapi_document_and_docs_ui_are_served(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/user/signup" in spec["paths"]
    signup = spec["paths"]["/user/signup"]["post"]
    assert signup["summary"]
    assert "400" in signup["responses"]
    assert client.get("/docs").status_code == 200


def test_health_and_readiness(client, make_app):
    import os

    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": True, "redis": True}
    broken = make_app(
        REDIS_URL="redis://127.0.0.1:1/0",
        RATELIMIT_STORAGE_URI=os.environ["REDIS_URL"],
        CACHE_REDIS_URL=os.environ["REDIS_URL"],
    ).test_client()
    response = broken.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] is False
    assert response.get_json()["error"]


def test_committed_openapi_document_is_current(app):
    """docs/openapi.json is reviewed with every API change: regenerate it with `make openapi`."""
    import json
    from pathlib import Path

    from app.extensions import api

    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    with app.app_context():
        current = json.loads(json.dumps(api.spec.to_dict()))
    assert current == committed, "docs/openapi.json is out of date: run `make openapi`"
