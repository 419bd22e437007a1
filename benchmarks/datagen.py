"""Benchmark data sets, written in bulk SQL (INSERT ... SELECT over generate_series, in
chunks) into a database that already has the real migrations applied.

Scales (FEATURED is 4, not the issue's 10: the shop refuses a fifth featured product):

    smoke     tiny, for CI
    standard  20 categories, 5,000 products (one image each), 4 featured, 2,000 customers,
              20,000 orders of 1-4 items over the last year, mixed statuses
    large     100 categories, 100,000 products, 50,000 customers, 1,000,000 orders

Besides the random shop, every data set holds what the scenarios need: an admin and a
customer with exactly 20 orders (both with the password BENCH_PASSWORD), a product with
stock for the contention run, one with 100 units for the oversell check, and one that the
prepared checkout carts and webhook snapshots use. The order counters (order_stats) are
filled from the generated orders, as the shop would have kept them.

    python benchmarks/datagen.py --scale standard --database-url postgresql://...
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

BENCH_PASSWORD = "bench-password-123"
ADMIN_EMAIL = "admin@bench.shop"
HISTORY_CUSTOMER_EMAIL = "customer1@bench.shop"  # exactly 20 orders
HISTORY_ORDERS = 20
MAX_FEATURED = 4
OVERSELL_STOCK = 100


@dataclass(frozen=True)
class Scale:
    name: str
    categories: int
    products: int
    customers: int
    orders: int
    chunk: int


SCALES = {
    "smoke": Scale("smoke", 5, 60, 30, 200, 200),
    "standard": Scale("standard", 20, 5_000, 2_000, 20_000, 10_000),
    "large": Scale("large", 100, 100_000, 50_000, 1_000_000, 100_000),
}


class Progress:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, label: str, total: int, enabled: bool = True):
        self.label, self.total, self.done = label, max(total, 1), 0
        self.enabled = enabled
        self.started = time.monotonic()
        self._draw()

    def advance(self, amount: int) -> None:
        self.done = min(self.done + amount, self.total)
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.monotonic() - self.started
        sys.stderr.write(
            f"\r  {self.label:<14} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done:>9,}/{self.total:,} {elapsed:6.1f}s"
        )
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _password_hash() -> str:
    # The production method, so the login scenario pays what a real login pays.
    from werkzeug.security import generate_password_hash

    return generate_password_hash(BENCH_PASSWORD, method="scrypt:131072:8:1")


def generate(database_url: str, scale: Scale, *, progress: bool = True) -> dict:
    """Fill an empty, migrated database. Returns ids the scenarios need and the timings."""
    import psycopg

    timings: dict[str, float] = {}
    started = time.monotonic()
    password_hash = _password_hash()
    with psycopg.connect(libpq_url(database_url), autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(0.42)")

        step = time.monotonic()
        conn.execute(
            "INSERT INTO categories (id, name, created_at) "
            "SELECT g, 'Category ' || lpad(g::text, 3, '0'), now() - make_interval(days => g) "
            "FROM generate_series(1, %s::int) g",
            (scale.categories,),
        )
        bar = Progress("products", scale.products, progress)
        for first in range(1, scale.products + 1, scale.chunk):
            last = min(first + scale.chunk - 1, scale.products)
            # ~3% out of stock; prices 1.00-250.00; names sort in a different order than ids.
            conn.execute(
                "INSERT INTO products (id, name, description, price, stock, reserved_stock, "
                "category_id, created_at, updated_at) "
                "SELECT g, (ARRAY['Oak','Linen','Steel','Clay','Wool','Glass','Cedar','Brass'])"
                "[1 + (g * 7) %% 8] || ' ' || (ARRAY['Mug','Lamp','Chair','Throw','Vase','Bowl',"
                "'Shelf','Rug','Clock','Tray'])[1 + (g * 13) %% 10] || ' ' || g, "
                "'A well made ' || g || ' for the home: durable, simple and easy to clean.', "
                "round((1 + random() * 249)::numeric, 2), "
                "CASE WHEN g %% 33 = 0 THEN 0 ELSE 1 + (random() * 500)::int END, 0, "
                "1 + (g %% %s), now() - make_interval(mins => (random() * 525600)::int), now() "
                "FROM generate_series(%s::int, %s::int) g",
                (scale.categories, first, last),
            )
            conn.execute(
                "INSERT INTO product_images (product_id, image_path, created_at) "
                "SELECT g, 'shop-images/products/' || g || '.jpg', now() "
                "FROM generate_series(%s::int, %s::int) g",
                (first, last),
            )
            bar.advance(last - first + 1)
        conn.execute("SELECT setval(pg_get_serial_sequence('products', 'id'), %s::int)",
                     (scale.products,))
        special = {}
        for key, name, stock in (
            ("hot_product_id", "Contended Lamp", 1_000_000),
            ("oversell_product_id", "Last Hundred Vase", OVERSELL_STOCK),
            ("checkout_product_id", "Checkout Mug", 1_000_000),
        ):
            special[key] = conn.execute(
                "INSERT INTO products (name, description, price, stock, reserved_stock, "
                "category_id, created_at, updated_at) VALUES (%s, %s, 12.50, %s, 0, 1, now(), now()) "
                "RETURNING id",
                (name, f"{name} used by the benchmarks", stock),
            ).fetchone()[0]
        conn.execute(
            "INSERT INTO featured_products (product_id, created_at) "
            "SELECT id, now() FROM products WHERE stock > 0 ORDER BY id LIMIT %s",
            (MAX_FEATURED,),
        )
        timings["catalogue_s"] = round(time.monotonic() - step, 2)

        step = time.monotonic()
        conn.execute(
            "INSERT INTO users (id, full_name, email, password_hash, role, is_verified, "
            "is_founder, created_at) VALUES (1, 'Bench Admin', %s, %s, 'admin', true, true, "
            "now() - interval '3 years')",
            (ADMIN_EMAIL, password_hash),
        )
        bar = Progress("customers", scale.customers, progress)
        for first in range(1, scale.customers + 1, scale.chunk):
            last = min(first + scale.chunk - 1, scale.customers)
            conn.execute(
                "INSERT INTO users (id, full_name, email, password_hash, role, is_verified, "
                "created_at) SELECT g + 1, 'Customer ' || g, 'customer' || g || '@bench.shop', "
                "%s, 'customer', true, now() - make_interval(mins => (random() * 1051200)::int) "
                "FROM generate_series(%s::int, %s::int) g",
                (password_hash, first, last),
            )
            bar.advance(last - first + 1)
        conn.execute(
            "INSERT INTO carts (user_id, created_at) SELECT id, created_at FROM users ORDER BY id"
        )
        timings["customers_s"] = round(time.monotonic() - step, 2)

        step = time.monotonic()
        products, customers = scale.products, scale.customers
        # Order g: 1 + g % 4 items; item k is product ((g*7919 + k*104729) mod products) + 1,
        # quantity 1 + (g + k) % 3, at the product's price. The first 20 orders belong to
        # customer 1 (user id 2); the others to customers 2..N (user ids 3..N+1).
        item_product = f"((g::bigint * 7919 + k * 104729) %% {products}) + 1"
        owner = f"CASE WHEN g <= {HISTORY_ORDERS} THEN 2 ELSE 3 + ((g::bigint * 2654435761) %% {customers - 1}) END"
        bar = Progress("orders", scale.orders, progress)
        for first in range(1, scale.orders + 1, scale.chunk):
            last = min(first + scale.chunk - 1, scale.orders)
            conn.execute(
                "INSERT INTO orders (id, user_id, stripe_session_id, customer_email, full_name, "
                "address_line_1, city, postcode, total_price, status, tracking_url, created_at, "
                "updated_at) "
                f"SELECT g, o.owner, 'cs_seed_' || g, 'customer' || (o.owner - 1) || '@bench.shop', "
                "'Customer ' || (o.owner - 1), g || ' High Street', 'Leeds', 'LS1 1AA', "
                f"(SELECT sum(p.price * (1 + (g + k) %% 3)) FROM generate_series(1, 1 + g %% 4) k "
                f" JOIN products p ON p.id = {item_product}), "
                "CASE WHEN o.age < 3 THEN 'Processing' WHEN o.age < 10 THEN 'Shipped' "
                "     WHEN random() < 0.03 THEN 'Shipped' ELSE 'Delivered' END, "
                "CASE WHEN o.age < 3 THEN NULL ELSE 'https://track.example/' || g END, "
                "now() - make_interval(secs => o.age * 86400), now() "
                f"FROM generate_series(%s::int, %s::int) g, LATERAL (SELECT {owner} AS owner, "
                "random() * 365 AS age) o",
                (first, last),
            )
            conn.execute(
                "INSERT INTO order_items (order_id, product_id, name, price, quantity) "
                "SELECT g, p.id, p.name, p.price, 1 + (g + k) %% 3 "
                "FROM generate_series(%s::int, %s::int) g CROSS JOIN LATERAL generate_series(1, 1 + g %% 4) k "
                f"JOIN products p ON p.id = {item_product}",
                (first, last),
            )
            conn.commit()
            bar.advance(last - first + 1)
        # The order counters the shop keeps with every order write (app/orders/stats.py),
        # built here from the orders in one pass, as the migration that added them does.
        conn.execute(
            "INSERT INTO order_stats (month, status, orders, revenue_pence) "
            "SELECT date_trunc('month', created_at AT TIME ZONE 'Europe/London')::date, status, "
            "count(*), sum(total_price * 100)::bigint FROM orders GROUP BY 1, 2"
        )
        conn.commit()
        timings["orders_s"] = round(time.monotonic() - step, 2)

        for table in ("categories", "products", "users", "orders"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
        step = time.monotonic()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = round(time.monotonic() - step, 2)
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("categories", "products", "product_images", "featured_products",
                          "users", "orders", "order_items")
        }
    timings["total_s"] = round(time.monotonic() - started, 2)
    return {"scale": scale.name, "counts": counts, "timings": timings, **special,
            "admin_email": ADMIN_EMAIL, "history_customer_email": HISTORY_CUSTOMER_EMAIL}


def prepare_carts(database_url: str, *, product_id: int, count: int, lines: int = 1,
                  locked: bool = False) -> list[int]:
    """`count` new guests, each with a cart holding `lines` line(s) of `product_id`
    (reserved on the product, as the shop does). Returns the guests' user ids."""
    import psycopg

    with psycopg.connect(libpq_url(database_url)) as conn:
        users = [row[0] for row in conn.execute(
            "INSERT INTO users (full_name, role, is_verified, created_at) "
            "SELECT 'Guest User', 'guest', false, now() FROM generate_series(1, %s::int) "
            "RETURNING id", (count,)
        ).fetchall()]
        conn.execute(
            "INSERT INTO carts (user_id, created_at, last_added_at, locked_at) "
            "SELECT u, now(), now(), CASE WHEN %s THEN now() END FROM unnest(%s::int[]) u",
            (locked, users),
        )
        conn.execute(
            "INSERT INTO cart_products (cart_id, product_id, quantity, created_at) "
            "SELECT c.id, %s, %s, now() FROM carts c WHERE c.user_id = ANY(%s)",
            (product_id, lines, users),
        )
        conn.execute(
            "UPDATE products SET reserved_stock = reserved_stock + %s WHERE id = %s",
            (lines * count, product_id),
        )
    return users


def prepare_paid_snapshots(database_url: str, *, product_id: int, count: int) -> list[dict]:
    """`count` guests whose carts (1 unit of `product_id`) are locked under an open checkout
    snapshot, as after POST /order/checkout. Returns the Stripe sessions to "pay"."""
    import psycopg

    users = prepare_carts(database_url, product_id=product_id, count=count, locked=True)
    with psycopg.connect(libpq_url(database_url)) as conn:
        name, price = conn.execute(
            "SELECT name, price FROM products WHERE id = %s", (product_id,)
        ).fetchone()
        items = json.dumps([{"product_id": product_id, "name": name, "unit_price": str(price),
                             "quantity": 1, "image_path": None}])
        rows = conn.execute(
            "INSERT INTO checkout_sessions (stripe_session_id, user_id, cart_id, status, email, "
            "full_name, address_line_1, city, postcode, items, total, currency, created_at, "
            "expires_at) SELECT 'cs_bench_' || c.user_id, c.user_id, c.id, 'open', NULL, "
            "'Guest Buyer', '1 Market Street', 'York', 'YO1 1AA', %s::json, %s, 'gbp', now(), "
            "now() + interval '30 minutes' FROM carts c WHERE c.user_id = ANY(%s) "
            "RETURNING stripe_session_id",
            (items, price, users),
        ).fetchall()
    pence = int(price * 100)
    return [{"id": row[0], "amount_total": pence} for row in rows]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="standard")
    parser.add_argument("--database-url", required=True,
                        help="an empty database with the migrations applied")
    args = parser.parse_args(argv)
    print(json.dumps(generate(args.database_url, SCALES[args.scale]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
