"""What the admin panel reads about accounts: the user list, one user, the dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.auth.models import User
from app.core.db import is_row_id
from app.core.errors import NotFound
from app.core.pagination import paginate
from app.extensions import db
from app.orders import stats
from app.orders.models import SHOP_TIME_ZONE, OrderStatus

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


def dashboard(*, now: datetime) -> dict:
    """The admin dashboard's figures: the user count (one index-only count) and the order
    figures, read from the order counters (app/orders/stats.py), so they cost the same at
    any number of orders and are never stale."""
    year = now.astimezone(SHOP_TIME_ZONE).year
    figures = stats.figures(db.session, year=year, ongoing=ONGOING)
    total_users = db.session.scalar(select(func.count()).select_from(User))
    return {"total_users": int(total_users), **figures}
