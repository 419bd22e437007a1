"""Helpers shared by the cart and address tests: products made through the ORM, the stock
invariant, and a real HTTP server for race tests."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from app.catalog.models import Category, Product, ProductImage
from app.extensions import db


def make_product(
    app,
    *,
    name="Mug",
    price="9.50",
    stock=10,
    reserved_stock=0,
    category="Kitchen",
    image_path=None,
) -> int:
    """Create a product (and its category if needed) directly in the database; returns its id."""
    with app.app_context():
        found = db.session.scalars(select(Category).where(Category.name == category)).first()
        if found is None:
            found = Category(name=category)
            db.session.add(found)
            db.session.flush()
        product = Product(
            name=name,
            description=f"A {name}",
            price=Decimal(price),
            stock=stock,
            reserved_stock=reserved_stock,
            category_id=found.id,
        )
        db.session.add(product)
        db.session.flush()
        if image_path:
            db.session.add(ProductImage(product_id=product.id, image_path=image_path))
        db.session.commit()
        product_id = product.id
        db.session.remove()
    return product_id


def stock_of(app, product_id: int) -> tuple[int, int]:
    """(stock, reserved_stock) of a product, read fresh."""
    with app.app_context():
        row = db.session.execute(
            select(Product.stock, Product.reserved_stock).where(Product.id == product_id)
        ).one()
        db.session.remove()
    return row.stock, row.reserved_stock


def stock_invariant_violations(app) -> list[str]:
    """Every product whose reserved_stock is not the sum of its cart lines, or exceeds stock."""
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT p.id, p.stock, p.reserved_stock, COALESCE(SUM(cp.quantity), 0) AS in_lines "
                "FROM products p LEFT JOIN cart_products cp ON cp.product_id = p.id "
                "GROUP BY p.id, p.stock, p.reserved_stock ORDER BY p.id"
            )
        ).all()
        db.session.remove()
    problems = []
    for row in rows:
        if row.reserved_stock != row.in_lines:
            problems.append(
                f"product {row.id}: reserved_stock {row.reserved_stock} but lines hold {row.in_lines}"
            )
        if row.reserved_stock > row.stock or row.reserved_stock < 0:
            problems.append(
                f"product {row.id}: reserved_stock {row.reserved_stock} outside 0..{row.stock}"
            )
    return problems


def count_rows(app, model, *conditions) -> int:
    with app.app_context():
        value = db.session.scalar(select(func.count()).select_from(model).where(*conditions))
        db.session.remove()
    return value


class LiveServer:
    """The application served over real HTTP by a threaded werkzeug server on a free port."""

    def __init__(self, application):
        self.server = make_server("127.0.0.1", 0, application, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def make_carts(
    app, count: int, lines: dict[int, int], *, last_added_at=None, locked_at=None
) -> list[int]:
    """Create `count` guests whose carts hold `lines` ({product_id: quantity}), reserving the
    units on the products as the shop would; returns the cart ids."""
    from sqlalchemy import insert, update

    from app.auth.models import Role, User
    from app.cart.models import Cart, CartProduct

    with app.app_context():
        user_ids = db.session.scalars(
            insert(User).returning(User.id),
            [{"full_name": "Guest User", "role": Role.GUEST} for _ in range(count)],
        ).all()
        cart_ids = db.session.scalars(
            insert(Cart).returning(Cart.id),
            [
                {"user_id": user_id, "last_added_at": last_added_at, "locked_at": locked_at}
                for user_id in user_ids
            ],
        ).all()
        if lines:
            db.session.execute(
                insert(CartProduct),
                [
                    {"cart_id": cart_id, "product_id": product_id, "quantity": quantity}
                    for cart_id in cart_ids
                    for product_id, quantity in lines.items()
                ],
            )
            for product_id, quantity in lines.items():
                db.session.execute(
                    update(Product)
                    .where(Product.id == product_id)
                    .values(reserved_stock=Product.reserved_stock + quantity * count)
                )
        db.session.commit()
        db.session.remove()
    return list(cart_ids)


def line_counts(app, cart_ids) -> dict[int, int]:
    """{cart_id: number of lines} for the given carts (0 for empty ones)."""
    from app.cart.models import CartProduct

    with app.app_context():
        rows = db.session.execute(
            select(CartProduct.cart_id, func.count())
            .where(CartProduct.cart_id.in_(list(cart_ids)))
            .group_by(CartProduct.cart_id)
        ).all()
        db.session.remove()
    counts = dict.fromkeys(cart_ids, 0)
    counts.update({row[0]: row[1] for row in rows})
    return counts
