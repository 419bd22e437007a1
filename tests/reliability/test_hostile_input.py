"""Hostile input against a live gunicorn backend: schemathesis generates requests for every
operation of our own /openapi.json (valid and invalid ones, a fixed budget per operation) and
every answer must be free of 5xx and match the documented schema; hand-written cases add what
generators rarely produce: oversized and deeply nested bodies, invalid UTF-8, injection strings
in every text field, extreme numbers and path ids beyond 2^63."""

from __future__ import annotations

import contextlib
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation import GenerationMode

from tests.reliability.support import FRONTEND_SECRET, Identity, Shopper, record, scaled

POSITIVE_CASES = scaled(6, 30)
NEGATIVE_CASES = scaled(4, 20)
SELF_DESTRUCTIVE = {"/user/delete-account", "/user/edit-password", "/user/logout"}


def _identity_for(path: str, admin: Identity, customer: Identity) -> Identity | None:
    if "/admin" in path:
        return admin
    if path in ("/user/signup", "/user/login", "/order/webhook"):
        return None
    return customer


def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_documented_schema(app, backends):
    base = backends.urls[0]
    raw = Shopper(base).call("GET", "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    admin = Identity(app, base, name="admin")
    customer = Identity(app, base, name="customer")
    # A catalogue to aim at, so that ids and paths sometimes hit real rows.
    from tests.cart.support import make_product

    make_product(app, stock=50)

    failures: list[str] = []
    cases = 0
    operations = 0
    statuses: dict[int, int] = {}
    began = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, budget in ((GenerationMode.POSITIVE, POSITIVE_CASES), (GenerationMode.NEGATIVE, NEGATIVE_CASES)):
            identity = _identity_for(operation.path, admin, customer)
            if identity is not None:
                identity.ensure()

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=budget,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],
            )
            def run(case):
                nonlocal cases
                cases += 1
                headers = {"X-Frontend-Secret": FRONTEND_SECRET}
                cookies = identity.cookies if identity else {}  # noqa: B023 - called in this iteration
                response = case.call(base_url=base, headers=headers, cookies=cookies, timeout=30)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                try:
                    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
                except BaseExceptionGroup as group:  # collect every failure, not just the first
                    for exc in group.exceptions:
                        failures.append(
                            f"{operation.method.upper()} {operation.path} [{mode.value}] -> "  # noqa: B023
                            f"{response.status_code} {getattr(exc, 'title', '')}: "
                            f"{' '.join(str(exc).split())[:400]}"
                        )

            with contextlib.suppress(Unsatisfiable):
                run()
            if operation.path in SELF_DESTRUCTIVE and identity is not None:
                identity.ensure()

    assert failures == [], "\n".join(failures[:40])
    assert not any(status >= 500 for status in statuses)
    record(
        "schemathesis",
        operations=operations,
        cases=cases,
        server_errors=0,
        schema_mismatches=0,
        statuses={str(key): value for key, value in sorted(statuses.items())},
        seconds=round(time.monotonic() - began, 1),
    )


# --- hand-written hostile cases ------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" UNION SELECT password_hash FROM users --',
    "1; SELECT pg_sleep(5)",
    "Robert\r\nSet-Cookie: access_token=stolen",
    "x\r\nX-Injected: yes\r\n\r\n<script>alert(1)</script>",
    "%0d%0aX-Injected:%20yes",
    "\u0000null byte",
    "{{7*7}} ${7*7} <img src=x onerror=alert(1)>",
    "ünïcödé ✓ 𝔘 \u202e",
]
# The reduced run sends every other string (each kind is still there); the full run all.
INJECTIONS = INJECTIONS if scaled(0, 1) else INJECTIONS[::2] + [INJECTIONS[4]]
BAD_NUMBERS = [-1, 0, -0.0, 1.5, 2**31, 2**63, 2**64 + 1, 10**30, "1e309", "NaN", "Infinity", "-5", "3.000001", True, None, [], {}]
HUGE_IDS = [2**31, 2**63 - 1, 2**63, 2**64 + 7, 10**30]


class Fixture:
    """The objects the hostile requests aim at, made through the API of the live backend."""

    def __init__(self, app, base, fake_stripe):
        from sqlalchemy import select

        from app.catalog.models import Category
        from app.extensions import db
        from tests.cart.support import make_product
        from tests.orders.conftest import ADDRESS, CHECKOUT_BODY
        from tests.reliability.support import post_webhook, signed_event

        self.admin = Identity(app, base, name="admin")
        self.customer = Identity(app, base, name="customer")
        self.product = make_product(app, stock=50, price="5.00")
        with app.app_context():
            self.category = db.session.scalar(select(Category.id))
            db.session.remove()
        shopper = self.customer.shopper
        assert shopper.add(self.product, 1).status_code == 200
        assert shopper.call("POST", "/address/", json=ADDRESS).status_code == 201
        started = shopper.call("POST", "/order/checkout", json=CHECKOUT_BODY)
        assert started.status_code == 200, started.text
        paid = fake_stripe.pay(started.json()["session_id"])
        assert post_webhook(base, *signed_event(fake_stripe, "checkout.session.completed", paid)) == 200
        self.order = shopper.call("GET", "/order/").json()["orders"][0]["id"] if False else self._order_id(app)
        assert shopper.add(self.product, 1).status_code == 200
        self.line = shopper.line_id(self.product)
        self.address = shopper.call("GET", "/address/").json()[0]["id"]

    @staticmethod
    def _order_id(app) -> int:
        from sqlalchemy import select

        from app.extensions import db
        from app.orders.models import Order

        with app.app_context():
            value = db.session.scalar(select(Order.id))
            db.session.remove()
        return value


# (method, OpenAPI path) -> (who, path parameters, a valid body). Every operation with a JSON
# body must be here, so a new one cannot escape the hostile cases.
def body_table(f: Fixture) -> dict:
    from tests.conftest import PASSWORD
    from tests.orders.conftest import ADDRESS, CHECKOUT_BODY

    return {
        ("POST", "/user/signup"): (None, {}, {"full_name": "New Person", "email": "new-{n}@example.com", "password": PASSWORD}),
        ("POST", "/user/login"): (None, {}, {"email": "nobody@example.com", "password": PASSWORD, "remember_me": False}),
        ("POST", "/user/resend-verification"): (None, {}, {"email": "nobody@example.com"}),
        ("POST", "/user/reset-password"): (None, {}, {"email": "nobody@example.com"}),
        ("PUT", "/user/reset-password/{token}"): (None, {"token": "not-a-token"}, {"new_password": PASSWORD}),
        ("PUT", "/user/edit-name"): ("customer", {}, {"full_name": "Casey"}),
        ("PUT", "/user/edit-password"): ("customer", {}, {"current_password": PASSWORD, "new_password": PASSWORD + "!"}),
        ("POST", "/address/"): ("customer", {}, dict(ADDRESS)),
        ("PUT", "/address/{address_id}"): ("customer", {"address_id": f.address}, dict(ADDRESS)),
        ("POST", "/cart/{product_id}"): ("customer", {"product_id": f.product}, {"quantity": 1}),
        ("PUT", "/cart/{cart_product_id}"): ("customer", {"cart_product_id": f.line}, {"quantity": 1}),
        ("POST", "/order/checkout"): ("customer", {}, dict(CHECKOUT_BODY)),
        ("POST", "/user/contact-us"): (None, {}, {"from_name": "A", "from_email": "a@example.com", "subject": "Hi", "message": "Hello"}),
        ("POST", "/category/admin"): ("admin", {}, {"name": "Cat {n}"}),
        ("PUT", "/category/admin/{category_id}"): ("admin", {"category_id": f.category}, {"name": "Cat {n}"}),
        ("POST", "/product/admin"): ("admin", {}, {"name": "P {n}", "description": "D", "price": 3.5, "stock": 4, "category_id": f.category}),
        ("PUT", "/product/admin/{product_id}"): ("admin", {"product_id": f.product}, {"name": "P {n}", "description": "D", "price": 5, "stock": 50, "category_id": f.category}),
        ("PUT", "/order/admin/{order_id}"): ("admin", {"order_id": f.order}, {"status": "shipped", "tracking_url": "https://track.example.com/1"}),
    }


def _json_body_operations(raw: dict) -> set[tuple[str, str]]:
    found = set()
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.add((method.upper(), path))
    return found


class Sender:
    def __init__(self, base: str, fixture: Fixture):
        self.base = base
        self.fixture = fixture
        self.sent = 0
        self.server_errors: list[str] = []
        self.counter = 0

    def send(self, who: str | None, method: str, path: str, *, json_body=None, data=None, headers=None):
        import requests

        identity = {"admin": self.fixture.admin, "customer": self.fixture.customer}.get(who or "")
        if identity is not None:
            identity.ensure()
        all_headers = {"X-Frontend-Secret": FRONTEND_SECRET, **(headers or {})}
        response = requests.request(
            method, self.base + path, json=json_body, data=data, headers=all_headers,
            cookies=identity.cookies if identity else {}, timeout=30,
        )
        self.sent += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
        for name in response.headers:
            assert name.lower() != "x-injected", (method, path)
        assert "stolen" not in response.headers.get("Set-Cookie", ""), (method, path)
        return response

    def fill(self, body: dict) -> dict:
        self.counter += 1
        return {key: value.replace("{n}", str(self.counter)) if isinstance(value, str) else value for key, value in body.items()}


@pytest.fixture
def hostile(app, backends, fake_stripe):
    base = backends.urls[1]
    fixture = Fixture(app, base, fake_stripe)
    return Sender(base, fixture), body_table(fixture), Shopper(base).call("GET", "/openapi.json").json()


def test_injection_strings_in_every_text_field_are_stored_verbatim_or_refused(app, hostile):
    sender, table, raw = hostile
    assert _json_body_operations(raw) == set(table), "an operation with a JSON body has no hostile cases"
    stored_verbatim = 0
    for (method, path), (who, params, valid) in table.items():
        text_fields = [key for key, value in valid.items() if isinstance(value, str)]
        for field in text_fields:
            for injection in INJECTIONS:
                body = sender.fill(valid)
                body[field] = injection if "{n}" not in valid[field] else injection + str(sender.counter)
                response = sender.send(who, method, path.format(**params), json_body=body)
                assert response.status_code < 500
                if response.status_code in (200, 201) and (method, path) == ("PUT", "/user/edit-name"):
                    name = sender.send(who, "GET", "/user/").json()["full_name"]
                    assert name == injection.strip(), (injection, name)
                    stored_verbatim += 1
    # The tables survived every injection.
    assert sender.send("admin", "GET", "/user/admin").status_code == 200
    assert sender.server_errors == []
    record("hostile_input", injection_requests=sender.sent, injection_strings=len(INJECTIONS), names_stored_verbatim=stored_verbatim)


def test_negative_huge_and_fractional_numbers_are_refused_and_break_no_books(app, hostile):
    from tests.cart.support import stock_invariant_violations

    sender, table, _ = hostile
    before = sender.sent
    for (method, path), (who, params, valid) in table.items():
        numeric = [key for key, value in valid.items() if isinstance(value, int | float) and not isinstance(value, bool)]
        for field in numeric:
            for bad in BAD_NUMBERS:
                body = sender.fill(valid)
                body[field] = bad
                response = sender.send(who, method, path.format(**params), json_body=body)
                assert response.status_code < 500
                if field in ("quantity", "stock", "category_id") and bad not in (0,) and response.status_code < 300:
                    # Only whole, positive, in-range numbers may be accepted.
                    assert isinstance(bad, int) and 0 < bad < 2**31, (method, path, field, bad)
    assert sender.server_errors == []
    assert stock_invariant_violations(app) == []
    record("hostile_input", number_requests=sender.sent - before)


def test_ids_beyond_the_database_range_are_answered_like_missing_ids(app, hostile):
    """Every integer path parameter of the route map, as admin and as a customer: 2^31 and
    up to 10^30 get the same answer as an id that does not exist."""
    sender, table, _ = hostile
    before = sender.sent
    mismatches = []
    for rule in app.url_map.iter_rules():
        int_args = [name for name, converter in rule._converters.items() if type(converter).__name__ == "IntegerConverter"]
        if not int_args:
            continue
        openapi_path = rule.rule.replace("<int:", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            who, _, valid = table.get((method, openapi_path), ("admin" if "/admin" in rule.rule else "customer", {}, None))
            body = sender.fill(valid) if valid else None
            missing = sender.send(who, method, rule.rule.replace("<int:", "{").replace(">", "}").format(**dict.fromkeys(int_args, 999_999)), json_body=body)
            for huge in HUGE_IDS:
                url = openapi_path.format(**dict.fromkeys(int_args, huge))
                response = sender.send(who, method, url, json_body=body)
                if (response.status_code, response.json()) != (missing.status_code, missing.json()):
                    mismatches.append(f"{method} {url}: {response.status_code} {response.text[:120]} vs missing {missing.status_code}")
    assert sender.server_errors == []
    assert mismatches == []
    record("hostile_input", huge_id_requests=sender.sent - before)


def test_oversized_nested_and_undecodable_bodies_are_refused_cleanly(hostile):
    sender, table, _ = hostile
    before = sender.sent
    json_headers = {"Content-Type": "application/json"}
    cases = [
        # Above the JSON limit, and above the whole-request limit.
        (b'{"full_name": "' + b"a" * (70 * 1024) + b'"}', {413}),
        (b'{"full_name": "' + b"a" * (9 * 1024 * 1024) + b'"}', {413}),
        (b"[" * 100_000 + b"]" * 100_000, {400, 413}),
        (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, {400, 413}),
        (b'{"full_name": "\xff\xfe\xfa"}', {400}),
        (b"\xef\xbb\xbf{}", {400}),
        (b'{"full_name": "\\ud800"}', {400}),
        (b"not json at all", {400}),
        (b"", {400}),
        (b"null", {400}),
        (b'["a list"]', {400}),
    ]
    for (method, path), (who, params, _) in table.items():
        for body, expected in cases:
            response = sender.send(who, method, path.format(**params), data=body, headers=json_headers)
            assert response.status_code in expected, (method, path, body[:40], response.status_code, response.text[:200])
            assert response.json()["code"]
    # Undecodable bytes in the URL and headers.
    for url in ("/product/?q=%ff%fe", "/product/?q=%00", "/category/%ff", "/product/?page=99999999999999999999"):
        assert sender.send(None, "GET", url).status_code < 500
    assert sender.send("customer", "GET", "/cart/", headers={"X-Request-ID": "a" * 5000}).status_code == 200
    assert sender.server_errors == []
    record("hostile_input", malformed_body_requests=sender.sent - before)
