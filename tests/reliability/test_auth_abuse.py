"""Authentication abuse at the level of the whole route map: every endpoint that needs a
session refuses stale, replayed and forged tokens, cross-site unsafe requests and (on the
live production backend) requests without the storefront's secret. Brute force against login
is stopped per account and per address. The single-endpoint versions live in tests/auth and
tests/core; their helpers are reused here."""

from __future__ import annotations

from datetime import timedelta

import jwt
import requests
from sqlalchemy import select

from app.auth.models import AuthSession
from app.extensions import db
from tests.auth.test_rate_limits import client_from, login
from tests.auth.test_token_attacks import b64
from tests.conftest import PASSWORD, new_client
from tests.reliability.support import FRONTEND_SECRET, record, scaled
from tests.reliability.test_access_matrix import ACCOUNT, ADMIN, ANY, EXPECTATIONS

PROTECTED = sorted(
    (method, rule) for (method, rule), (access, _) in EXPECTATIONS.items() if access in (ANY, ACCOUNT, ADMIN)
)


def _url(rule: str) -> str:
    return rule.split("<")[0] + "1" if "<" in rule else rule


def _refused_everywhere(app, cookies: dict) -> list[str]:
    """Every protected endpoint called with these cookies; the ones that did not answer 401."""
    problems = []
    for method, rule in PROTECTED:
        attacker = new_client(app)
        for name, value in cookies.items():
            attacker.set_cookie(name, value, domain="localhost")
        response = attacker.open(_url(rule), method=method, json={"full_name": "Hacked"} if method != "GET" else None)
        if response.status_code != 401:
            problems.append(f"{method} {rule}: {response.status_code}")
    return problems


def _cookies(client) -> dict:
    return {name: client.get_cookie(name).value for name in ("access_token", "refresh_token")}


def test_stale_replayed_and_forged_tokens_are_refused_by_every_protected_endpoint(app, accounts, admin_client):
    email = accounts.verified(new_client(app))
    variants: dict[str, dict] = {}

    client = new_client(app)
    accounts.login(client, email)
    before_logout = _cookies(client)
    assert client.post("/user/logout").status_code == 200
    variants["after logout"] = before_logout

    old_session, changer = new_client(app), new_client(app)
    accounts.login(old_session, email)
    accounts.login(changer, email)
    stale = _cookies(old_session)
    response = changer.put("/user/edit-password", json={"current_password": PASSWORD, "new_password": PASSWORD + "!"})
    assert response.status_code == 200
    variants["after password change"] = stale

    holder = new_client(app)
    accounts.login(holder, email, password=PASSWORD + "!")
    replayed = holder.get_cookie("refresh_token").value
    assert holder.post("/user/refresh").status_code == 200
    with app.app_context():
        # Past the grace period that lets two tabs refresh at once, the old token is a replay.
        for session in db.session.scalars(select(AuthSession)):
            if session.refreshed_at is not None:
                session.refreshed_at -= timedelta(minutes=5)
        db.session.commit()
        db.session.remove()
    replay = new_client(app)
    replay.set_cookie("refresh_token", replayed, domain="localhost")
    assert replay.post("/user/refresh").status_code == 401
    variants["refresh reuse (the whole login is revoked)"] = _cookies(holder)

    victim = new_client(app)
    accounts.login(victim, email, password=PASSWORD + "!")
    token = victim.get_cookie("access_token").value
    claims = jwt.decode(token, options={"verify_signature": False})
    header, _, signature = token.split(".")
    admin_claims = {**claims, "sub": "1"}
    variants["alg none"] = {"access_token": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(admin_claims)}."}
    variants["wrong key"] = {"access_token": jwt.encode(admin_claims, "another-secret-key-0123456789abcdef", algorithm="HS256")}
    variants["edited claims"] = {"access_token": f"{header}.{b64(admin_claims)}.{signature}"}
    variants["refresh token as access token"] = {"access_token": victim.get_cookie("refresh_token").value}

    problems = {name: _refused_everywhere(app, cookies) for name, cookies in variants.items()}
    assert problems == dict.fromkeys(variants, [])
    # The genuine session still works: refusals were about the tokens, not the account.
    assert victim.get("/user/authenticate").status_code == 200
    record("auth_abuse", token_variants=len(variants), token_requests=len(variants) * len(PROTECTED), token_accepted=0)


def test_brute_force_on_login_is_stopped_per_account_and_per_address(make_app, accounts, admin_client):
    limited = make_app(LOGIN_RATE_LIMIT="5 per minute", LOGIN_ACCOUNT_RATE_LIMIT="8 per minute")
    email = accounts.verified(new_client(limited))
    attempts = scaled(30, 120)

    # One address trying many accounts.
    one_address = client_from(limited)
    statuses = [login(one_address, f"guess{n}@example.com").status_code for n in range(attempts)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}

    # Many addresses trying one account: the account's own limit stops them.
    spread = [login(client_from(limited), email).status_code for _ in range(attempts)]
    assert spread[:8] == [400] * 8 and set(spread[8:]) == {429}
    # Even the right password waits, from yet another address.
    assert login(client_from(limited), email, PASSWORD).status_code == 429
    # Someone else, elsewhere, is not slowed.
    other = accounts.verified(new_client(limited))
    assert login(client_from(limited), other, PASSWORD).status_code == 200
    record("auth_abuse", brute_force_attempts=2 * attempts + 2, brute_force_passed_limit=0)


def test_cross_site_unsafe_requests_with_cookies_are_refused_everywhere(app, customer):
    client, _ = customer
    unsafe = sorted((m, r) for (m, r), (access, _) in EXPECTATIONS.items() if m in ("POST", "PUT", "DELETE") and r != "/order/webhook")
    problems = []
    for method, rule in unsafe:
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
            response = client.open(_url(rule), method=method, json={"full_name": "x"}, headers=headers)
            if response.status_code != 403 or response.get_json()["code"] != "cross_origin_refused":
                problems.append(f"{method} {rule} {headers}: {response.status_code}")
    assert problems == []
    # The account is untouched and still signed in.
    assert client.get("/user/").status_code == 200
    record("auth_abuse", cross_site_requests=3 * len(unsafe), cross_site_accepted=0)


def test_the_production_backend_refuses_every_route_without_the_frontend_secret(backends):
    base = backends.urls[0]
    exempt = {"/order/webhook", "/healthz", "/readyz"}
    problems = []
    sent = 0
    for (method, rule), (_access, _) in sorted(EXPECTATIONS.items()):
        url = base + _url(rule).replace("<path:filename>", "x.css").replace("<string:bucket>/<string:object_name>", "p/x.jpg").replace("<string:token>", "t")
        for headers in ({}, {"X-Frontend-Secret": "wrong"}, {"X-Frontend-Secret": FRONTEND_SECRET[:-1]}):
            response = requests.request(method, url, headers=headers, json={} if method != "GET" else None, timeout=30)
            sent += 1
            if rule in exempt:
                if response.status_code == 403:
                    problems.append(f"{method} {rule}: machine endpoint refused")
            elif response.status_code != 403 or response.json()["error"] != "Forbidden":
                problems.append(f"{method} {rule} {headers}: {response.status_code}")
    assert problems == []
    assert requests.get(base + "/category/", headers={"X-Frontend-Secret": FRONTEND_SECRET}, timeout=30).status_code == 200
    record("auth_abuse", secret_header_requests=sent, secret_header_bypasses=0)

