"""What the admin panel reads about accounts: the user list, one user, the dashboard."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import extract, func, select

from app.auth.models import User
from app.core.db import is_row_id
from app.core.errors import NotFound
from app.core.pagination import paginate
from app.extensions import db
from app.orders.models import Order, OrderStatus
from app.orders.services import ORDER_FIGURES, SHOP_TIME_ZONE

ONGOING = (OrderStatus.PROCESSING, OrderStatus.SHIPPED)


def list_users(*, page: int, per_page: int) -> dict:
    """Every account, guests included, newest first (two statements)."""
    statement = select(User.id, User.full_name, User.email, User.role).order_by(
        User.created_at.desc(), User.id.desc()
    )
    result = paginate(statement, page=page, per_page=per_page, count_statement=select(User.id))
    rows = [
        {"id": row.id, "full_name": row.full_name, "email": row.email, "role": row.role}
        for row in result.items
    ]
    return result.envelope("users", rows)


def get_user(*, user_id: int) -> User:
    # Row ids are PostgreSQL integers: a larger id cannot exist, and binding it is an error.
    user = db.session.get(User, user_id) if is_row_id(user_id) else None
    if user is None:
        raise NotFound("User not found")
    return user


def _year_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The current calendar year in the shop's time zone, as UTC-aware instants."""
    local = now.astimezone(SHOP_TIME_ZONE)
    start = datetime(local.year, 1, 1, tzinfo=SHOP_TIME_ZONE)
    end = datetime(local.year + 1, 1, 1, tzinfo=SHOP_TIME_ZONE)
    return start, end


def _orders_per_month(start: datetime, end: datetime) -> dict[str, int]:
    counts = {str(month): 0 for month in range(1, 13)}
    in_year = (Order.created_at >= start) & (Order.created_at < end)
    if db.engine.dialect.name == "postgresql":
        month = extract("month", func.timezone(SHOP_TIME_ZONE.key, Order.created_at))
        for number, total in db.session.execute(
            select(month, func.count()).where(in_year).group_by(month)
        ):
            counts[str(int(number))] = int(total)
    else:  # SQLite (the embedded default) has no time zones: bucket in Python
        for (created_at,) in db.session.execute(select(Order.created_at).where(in_year)):
            counts[str(created_at.astimezone(SHOP_TIME_ZONE).month)] += 1
    return counts


def _order_figures(now: datetime) -> dict:
    overall, ongoing, revenue = db.session.execute(
        select(
            func.count(),
            func.count().filter(Order.status.in_(ONGOING)),
            func.coalesce(func.sum(Order.total_price), 0),
        )
    ).one()
    start, end = _year_bounds(now)
    return {
        "ongoing_orders": int(ongoing),
        "orders_overall": int(overall),
        "total_revenue": Decimal(revenue).quantize(Decimal("0.01")),
        "graph_data": _orders_per_month(start, end),
    }


def dashboard(*, now: datetime) -> dict:
    """The admin dashboard's figures. Order figures are aggregate SQL over every order, so
    they are cached under the orders version, which every new order and status change bumps
    (app.orders.services.ORDER_FIGURES); the user count is one index-only count, always live."""
    year = now.astimezone(SHOP_TIME_ZONE).year
    figures = ORDER_FIGURES.cached_read("dashboard", {"year": year}, lambda: _order_figures(now))
    total_users = db.session.scalar(select(func.count()).select_from(User))
    return {"total_users": int(total_users), **figures}
