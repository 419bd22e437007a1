"""Access control matrix, generated from the route map: every endpoint × (anonymous, guest,
customer A, customer B, admin) × (own object, someone else's object, missing object).

Someone else's objects belong to a victim account that never acts. Denied cells must be 401
(no session) or 403 (wrong role); someone else's object must get exactly the answer a missing
one gets; the victim's data must never appear in a non-admin answer and must be unchanged at
the end. EXPECTATIONS is keyed by (method, rule): a new endpoint fails the test until it is
given its access level here."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.addresses.models import Address
from app.auth.models import User
from app.cart.models import Cart, CartProduct
from app.catalog.models import FeaturedProduct
from app.extensions import db
from app.orders.models import Order, OrderItem
from tests.cart.support import make_product
from tests.conftest import PASSWORD, Accounts, new_client
from tests.orders.conftest import ADDRESS, CHECKOUT_BODY
from tests.reliability.support import record
from tests.support.guests import guest_client

PUBLIC, ANY, ACCOUNT, ADMIN = "public", "any-auth", "account", "admin"
ALLOWED = {
    PUBLIC: {"anonymous", "guest", "customer_a", "customer_b", "admin"},
    ANY: {"guest", "customer_a", "customer_b", "admin"},
    ACCOUNT: {"customer_a", "customer_b", "admin"},
    ADMIN: {"admin"},
}
ROLES = ["anonymous", "guest", "customer_a", "customer_b", "admin"]
MISSING_ID = 999_999

# (method, rule) -> (who may call it, what its path parameter names)
EXPECTATIONS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", "/address/"): (ANY, None),
    ("POST", "/address/"): (ANY, None),
    ("GET", "/address/default"): (ANY, None),
    ("GET", "/address/<int:address_id>"): (ANY, "address"),
    ("PUT", "/address/<int:address_id>"): (ACCOUNT, "address"),
    ("DELETE", "/address/<int:address_id>"): (ACCOUNT, "address"),
    ("POST", "/category/admin"): (ADMIN, None),
    ("GET", "/category/admin"): (ADMIN, None),
    ("PUT", "/category/admin/<int:category_id>"): (ADMIN, "category"),
    ("DELETE", "/category/admin/<int:category_id>"): (ADMIN, "category"),
    ("POST", "/product/admin"): (ADMIN, None),
    ("GET", "/product/admin"): (ADMIN, None),
    ("PUT", "/product/admin/<int:product_id>"): (ADMIN, "product"),
    ("DELETE", "/product/admin/<int:product_id>"): (ADMIN, "product"),
    ("GET", "/product/admin/featured-product/<int:product_id>"): (ADMIN, "product"),
    ("POST", "/product/admin/featured-product/<int:product_id>"): (ADMIN, "product"),
    ("DELETE", "/product/admin/featured-product/<int:featured_id>"): (ADMIN, "featured"),
    ("POST", "/product/admin/product-image/<int:product_id>"): (ADMIN, "product"),
    ("GET", "/user/admin/dashboard"): (ADMIN, None),
    ("GET", "/user/admin"): (ADMIN, None),
    ("GET", "/user/admin/<int:user_id>"): (ADMIN, "user"),
    ("GET", "/order/admin"): (ADMIN, None),
    ("GET", "/order/admin/<int:order_id>"): (ADMIN, "order"),
    ("PUT", "/order/admin/<int:order_id>"): (ADMIN, "order"),
    ("GET", "/order/admin/user/<int:user_id>"): (ADMIN, "user"),
    ("GET", "/admin/audit-log"): (ADMIN, None),
    ("GET", "/openapi.json"): (PUBLIC, None),
    ("GET", "/docs"): (PUBLIC, None),
    ("GET", "/healthz"): (PUBLIC, None),
    ("GET", "/readyz"): (PUBLIC, None),
    ("GET", "/static/<path:filename>"): (PUBLIC, "file"),
    ("GET", "/media/<string:bucket>/<string:object_name>"): (PUBLIC, "media"),
    ("GET", "/cart/"): (ANY, None),
    ("POST", "/cart/<int:product_id>"): (PUBLIC, "product"),
    ("PUT", "/cart/<int:cart_product_id>"): (ANY, "line"),
    ("DELETE", "/cart/<int:cart_product_id>"): (ANY, "line"),
    ("GET", "/category/"): (PUBLIC, None),
    ("GET", "/category/<int:category_id>"): (PUBLIC, "category"),
    ("GET", "/product/"): (PUBLIC, None),
    ("GET", "/product/<int:product_id>"): (PUBLIC, "product"),
    ("GET", "/product/featured-product"): (PUBLIC, None),
    ("GET", "/product/product-image/<int:product_id>"): (PUBLIC, "product"),
    ("POST", "/user/contact-us"): (PUBLIC, None),
    ("GET", "/order/"): (ACCOUNT, None),
    ("GET", "/order/stripe_session_status"): (ANY, None),
    ("POST", "/order/checkout"): (ANY, None),
    ("POST", "/order/webhook"): (PUBLIC, None),
    ("POST", "/user/signup"): (PUBLIC, None),
    ("POST", "/user/login"): (PUBLIC, None),
    ("GET", "/user/authenticate"): (ANY, None),
    ("POST", "/user/refresh"): (ANY, None),
    # The contract answers 200 to anyone: it only clears cookies.
    ("POST", "/user/logout"): (PUBLIC, None),
    ("POST", "/user/verify-email/<string:token>"): (PUBLIC, "token"),
    ("POST", "/user/resend-verification"): (PUBLIC, None),
    ("POST", "/user/reset-password"): (PUBLIC, None),
    ("PUT", "/user/reset-password/<string:token>"): (PUBLIC, "token"),
    ("GET", "/user/"): (ACCOUNT, None),
    ("PUT", "/user/edit-name"): (ACCOUNT, None),
    ("PUT", "/user/edit-password"): (ACCOUNT, None),
    ("DELETE", "/user/delete-account"): (ACCOUNT, None),
    ("GET", "/user/export"): (ACCOUNT, None),
}
# Cells that end the caller's session or account run last, each on a fresh session.
SESSION_ENDING = [
    ("POST", "/user/refresh"),
    ("POST", "/user/logout"),
    ("PUT", "/user/edit-password"),
    ("DELETE", "/user/delete-account"),
]
OWNED = {"address", "line"}
VICTIM_MARKERS = ("Victoria Victim", "victim@example.com", "13 Secret Lane", "cs_victim_session")

BODIES = {
    ("POST", "/address/"): ADDRESS,
    ("PUT", "/address/<int:address_id>"): dict(ADDRESS, city="Leeds", is_default=True),
    ("POST", "/category/admin"): {"name": "Matrix {n}"},
    ("PUT", "/category/admin/<int:category_id>"): {"name": "Renamed {n}"},
    ("POST", "/product/admin"): {"name": "New {n}", "description": "D", "price": 2.5, "stock": 3, "category_id": "{category}"},
    ("PUT", "/product/admin/<int:product_id>"): {"name": "Upd {n}", "description": "D", "price": 4, "stock": 20, "category_id": "{category}"},
    ("PUT", "/order/admin/<int:order_id>"): {"status": "shipped", "tracking_url": "https://track.example.com/x"},
    ("POST", "/cart/<int:product_id>"): {"quantity": 1},
    ("PUT", "/cart/<int:cart_product_id>"): {"quantity": 2},
    ("POST", "/user/contact-us"): {"from_name": "A", "from_email": "a@example.com", "subject": "S", "message": "M"},
    ("POST", "/order/checkout"): CHECKOUT_BODY,
    ("POST", "/user/signup"): {"full_name": "Someone", "email": "someone-{n}@example.com", "password": PASSWORD},
    ("POST", "/user/login"): {"email": "victim@example.com", "password": "not the password", "remember_me": False},
    ("POST", "/user/resend-verification"): {"email": "victim@example.com"},
    ("POST", "/user/reset-password"): {"email": "nobody@example.com"},
    ("PUT", "/user/reset-password/<string:token>"): {"new_password": PASSWORD + "?"},
    ("PUT", "/user/edit-name"): {"full_name": "Renamed Person"},
    ("PUT", "/user/edit-password"): {"current_password": PASSWORD, "new_password": PASSWORD + "!"},
}


class World:
    """Five callers, a victim who never acts, and their objects."""

    def __init__(self, app, accounts, product, category):
        self.app = app
        self.accounts = accounts
        self.product, self.category = product, category
        # Admin cells may delete the product they aim at: it is not the one in the carts.
        self.catalogue_product = make_product(app, name="Lamp", stock=5, category="Lighting")
        from app.catalog.models import Product

        with app.app_context():
            self.category = db.session.scalar(select(Product.category_id).where(Product.id == self.catalogue_product))
            db.session.remove()
        self.clients = {"anonymous": new_client(app)}
        self.emails = {}
        admin, self.emails["admin"] = accounts.logged_in_client(email="admin@example.com", full_name="Shop Admin")
        self.clients["admin"] = admin
        for role in ("customer_a", "customer_b"):
            self.clients[role], self.emails[role] = accounts.logged_in_client(full_name=role.replace("_", " ").title())
        self.victim_client, _ = accounts.logged_in_client(email="victim@example.com", full_name="Victoria Victim")
        self.clients["guest"] = guest_client(app)
        self.addresses, self.lines = {}, {}
        for role in ("guest", "customer_a", "customer_b", "admin"):
            self.addresses[role], self.lines[role] = self._objects(self.clients[role])
        self.victim_address, self.victim_line = self._objects(self.victim_client, address=dict(ADDRESS, full_name="Victoria Victim", address_line_1="13 Secret Lane"))
        with app.app_context():
            victim_id = db.session.scalar(select(User.id).where(User.email == "victim@example.com"))
            order = Order(user_id=victim_id, stripe_session_id="cs_victim_session", customer_email="victim@example.com",
                          full_name="Victoria Victim", address_line_1="13 Secret Lane", city="London", postcode="SW1A 1AA",
                          total_price=Decimal("9.50"))
            order.items = [OrderItem(product_id=product, name="Mug", price=Decimal("9.50"), quantity=1)]
            db.session.add(order)
            featured = FeaturedProduct(product_id=product)
            db.session.add(featured)
            db.session.commit()
            self.victim_id, self.victim_order, self.featured = victim_id, order.id, featured.id
            db.session.remove()
        self.counter = 0

    def _objects(self, client, address=ADDRESS):
        assert client.post("/address/", json=address).status_code == 201
        address_id = client.get("/address/").get_json()[-1]["id"]
        assert client.post(f"/cart/{self.product}", json={"quantity": 1}).status_code == 200
        line = next(e["cart_product"]["id"] for e in client.get("/cart/").get_json() if e["product"]["id"] == self.product)
        return address_id, line

    def target(self, kind, role, which):
        """The path value of `kind` for `role`: its own object, the victim's, or none."""
        if which == "missing":
            return {"token": "no-such-token", "file": "no-such.css", "media": ("products", "missing.jpg")}.get(kind, MISSING_ID)
        if kind == "address":
            return self.addresses.get(role, MISSING_ID) if which == "own" else self.victim_address
        if kind == "line":
            return self.lines.get(role, MISSING_ID) if which == "own" else self.victim_line
        if kind == "user":
            return self.victim_id
        if kind == "order":
            return self.victim_order
        return {"product": self.catalogue_product, "category": self.category, "featured": self.featured,
                "token": "no-such-token", "file": "no-such.css", "media": ("products", "missing.jpg")}[kind]

    def url(self, rule, kind, value):
        if kind is None:
            return rule
        if kind == "media":
            return f"/media/{value[0]}/{value[1]}"
        head = rule[: rule.index("<")]
        return head + str(value)

    def body(self, key):
        template = BODIES.get(key)
        if template is None:
            return None
        self.counter += 1
        return {k: (v.replace("{n}", str(self.counter)).replace("{category}", str(self.category)) if isinstance(v, str) else v)
                for k, v in template.items()} | ({"category_id": self.category} if "category_id" in template else {})

    def victim_snapshot(self):
        with self.app.app_context():
            address = db.session.get(Address, self.victim_address)
            line = db.session.get(CartProduct, self.victim_line)
            user = db.session.get(User, self.victim_id)
            order = db.session.get(Order, self.victim_order)
            snapshot = (
                None if address is None else (address.full_name, address.address_line_1, address.city, address.is_default),
                None if line is None else (line.quantity, line.cart_id),
                (user.full_name, user.email, user.password_hash, user.role),
                (order.status, order.tracking_url, order.total_price),
                db.session.scalar(select(Cart.id).where(Cart.user_id == self.victim_id)),
            )
            db.session.remove()
        return snapshot


def _rule_keys(app):
    keys = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            keys.add((method, rule.rule))
    return keys


def test_every_route_is_in_the_expectation_table(app):
    keys = _rule_keys(app)
    assert keys - set(EXPECTATIONS) == set(), "routes without an access expectation"
    assert set(EXPECTATIONS) - keys == set(), "expectations for routes that no longer exist"


def test_access_matrix(make_app, mailgun, fake_stripe):
    app = make_app(CONTACT_US_EMAIL="owner@shop.test")
    accounts = Accounts(app, mailgun)
    product = make_product(app, stock=100)
    from app.catalog.models import Category

    with app.app_context():
        category = db.session.scalar(select(Category.id))
        db.session.remove()
    world = World(app, accounts, product, category)
    before = world.victim_snapshot()
    keys = sorted(_rule_keys(app), key=lambda k: (k in SESSION_ENDING and SESSION_ENDING.index(k) + 1, k[0] == "DELETE", k))
    cells = 0
    leaks, wrong = [], []
    for method, rule in keys:
        access, kind = EXPECTATIONS[(method, rule)]
        for role in ROLES:
            client = world.clients[role]
            if role == "anonymous":
                # A cart request makes an anonymous caller a guest: start each cell cookie-free.
                client = new_client(world.app)
            if (method, rule) in SESSION_ENDING and role != "anonymous":
                client = _fresh_session(world, role)
            targets = ["own", "other", "missing"] if kind else ["own"]
            answers = {}
            for which in targets:
                url = world.url(rule, kind, world.target(kind, role, which)) if kind else rule
                if role == "anonymous":
                    client = new_client(world.app)
                response = client.open(url, method=method, json=world.body((method, rule)))
                cells += 1
                answers[which] = (response.status_code, response.get_data(as_text=True))
                status, text = answers[which]
                cell = f"{role} {method} {url} ({which})"
                if status >= 500:
                    wrong.append(f"{cell}: {status}")
                if role not in ALLOWED[access]:
                    expected = 401 if role == "anonymous" else 403
                    if status != expected:
                        wrong.append(f"{cell}: {status}, expected {expected}")
                elif status in (401, 403):
                    wrong.append(f"{cell}: refused with {status}")
                if role != "admin" and any(marker in text for marker in VICTIM_MARKERS):
                    leaks.append(cell)
            if kind in OWNED and role in ALLOWED[access]:
                if answers["other"] != answers["missing"]:
                    wrong.append(f"{role} {method} {rule}: someone else's object {answers['other'][0]} vs missing {answers['missing'][0]}")
                if answers["missing"][0] not in (400, 404):
                    wrong.append(f"{role} {method} {rule}: missing object answered {answers['missing'][0]}")
                if role != "anonymous" and role in world.lines and answers["own"][0] >= 300:
                    wrong.append(f"{role} {method} {rule}: own object refused {answers['own'][0]}")
    assert wrong == [], "\n".join(wrong)
    assert leaks == []
    assert world.victim_snapshot() == before
    # The victim can still sign in and sees their own things.
    victim = new_client(app)
    accounts.login(victim, "victim@example.com")
    assert "13 Secret Lane" in victim.get("/address/").get_data(as_text=True)
    record("access_matrix", endpoints=len(keys), roles=len(ROLES), cells=cells, cross_account_reads=0, cross_account_writes=0)


def _fresh_session(world, role):
    """A new session for a caller, so ending it leaves the caller's other cells alone."""
    if role == "guest":
        world.clients["guest"] = guest_client(world.app)
        return world.clients["guest"]
    client = new_client(world.app)
    password = world.__dict__.setdefault("passwords", {}).get(role, PASSWORD)
    response = client.post("/user/login", json={"email": world.emails[role], "password": password, "remember_me": False})
    if response.status_code != 200:
        # The edit-password cell changed it.
        response = client.post("/user/login", json={"email": world.emails[role], "password": PASSWORD + "!", "remember_me": False})
    assert response.status_code == 200, response.get_json()
    return client
