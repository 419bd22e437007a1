"""Order counters: how many orders, and for how much, per month (shop time) and status.

The admin dashboard and the admin order list read these few rows instead of counting and
adding up every order (docs/decisions/0008-order-counters.md). They stay exact because they
change in the same transaction as the orders they count, whatever code writes the order:

- every ORM flush that inserts or deletes an Order, or changes its status, total or creation
  time, adds its effect to the session's pending changes (`after_flush`);
- just before the commit, the pending changes are written with one atomic
  `INSERT ... ON CONFLICT DO UPDATE SET orders = orders + ...` (PostgreSQL and SQLite): the
  last statement of the transaction, so a counter row is locked only from there to the
  commit, after every other lock the transaction takes (no lock-order cycle with the
  snapshot, cart, product and order rows of the completion path);
- a rollback forgets them with the rest of the transaction; inside a savepoint they are
  written at once, so a rolled back savepoint takes them back with its rows.

Orders must therefore change only through the ORM unit of work: a bulk INSERT, UPDATE or
DELETE of orders through the session is refused (it would leave the counters behind). Orders
written any other way (SQL by hand, a release without the counters still serving during a
rolling deploy) are counted again by `flask recount-orders` (`recount()`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import case, delete, event, func, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.orders.models import SHOP_TIME_ZONE, Order, OrderStat

_PENDING_KEY = "order_stat_changes"
PENNY = Decimal("0.01")

# (month, status) -> [orders, revenue in pence]
Changes = dict[tuple[date, str], list[int]]


def month_of(created_at: datetime) -> date:
    """The first day of the order's month in the shop's time zone."""
    local = created_at.astimezone(SHOP_TIME_ZONE)
    return date(local.year, local.month, 1)


def to_pence(amount: Decimal) -> int:
    return int((Decimal(amount) / PENNY).to_integral_value())


# --- keeping the counters ------------------------------------------------------------------


def _old_value(state, key: str):
    history = state.attrs[key].history
    if history.deleted:
        return history.deleted[0]
    return history.unchanged[0] if history.unchanged else None


def _count(changes: Changes, created_at, status, total, sign: int) -> None:
    if created_at is None or status is None or total is None:
        return
    row = changes[(month_of(created_at), status)]
    row[0] += sign
    row[1] += sign * to_pence(total)


def _changes_of_flush(session: Session) -> Changes:
    changes: Changes = defaultdict(lambda: [0, 0])
    for order in session.new:
        if isinstance(order, Order):
            _count(changes, order.created_at, order.status, order.total_price, +1)
    for order in session.deleted:
        if isinstance(order, Order):
            state = inspect(order)
            _count(changes, *(_old_value(state, key) for key in ("created_at", "status", "total_price")), -1)
    for order in session.dirty:
        if not isinstance(order, Order):
            continue
        state = inspect(order)
        keys = ("created_at", "status", "total_price")
        if not any(state.attrs[key].history.has_changes() for key in keys):
            continue
        _count(changes, *(_old_value(state, key) for key in keys), -1)
        _count(changes, order.created_at, order.status, order.total_price, +1)
    return changes


def _write(session: Session, changes: Changes) -> None:
    """Add `changes` to the counter rows: one statement, rows in key order (so two
    transactions that touch the same rows lock them in the same order)."""
    rows = [
        {"month": month, "status": status, "orders": orders, "revenue_pence": pence}
        for (month, status), (orders, pence) in sorted(changes.items())
        if orders or pence
    ]
    if not rows:
        return
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = OrderStat.__table__
    statement = dialect.insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.month, table.c.status],
        set_={
            "orders": table.c.orders + statement.excluded.orders,
            "revenue_pence": table.c.revenue_pence + statement.excluded.revenue_pence,
        },
    )
    connection.execute(statement)


@event.listens_for(Session, "before_flush")
def _load_counted_columns(session, flush_context, instances):
    # The counted columns of a changed or deleted order must be known before the flush
    # (a deleted row cannot be read afterwards; an expired column has no history).
    with session.no_autoflush:
        for order in (*session.dirty, *session.deleted):
            if isinstance(order, Order):
                order.created_at, order.status, order.total_price  # noqa: B018 - loads them


@event.listens_for(Session, "after_flush")
def _collect(session, flush_context):
    changes = _changes_of_flush(session)
    if not changes:
        return
    if session.in_nested_transaction():
        _write(session, changes)  # a savepoint's rollback must take them back too
        return
    pending: Changes = session.info.setdefault(_PENDING_KEY, defaultdict(lambda: [0, 0]))
    for key, (orders, pence) in changes.items():
        pending[key][0] += orders
        pending[key][1] += pence


@event.listens_for(Session, "before_commit")
def _write_pending(session):
    session.flush()
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        _write(session, pending)


@event.listens_for(Session, "after_transaction_end")
def _forget(session, transaction):
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_order_writes(orm_execute_state):
    if (orm_execute_state.is_update or orm_execute_state.is_delete or orm_execute_state.is_insert):
        mapper = orm_execute_state.bind_mapper
        if mapper is not None and mapper.class_ is Order:
            raise RuntimeError(
                "orders change only through the ORM unit of work (add, delete, set attributes), "
                "so that the order counters follow"
            )


def recount(session: Session) -> int:
    """Rebuild the counters from the orders, in the caller's transaction (commit it): order
    writes wait until then, so none is counted twice or missed. Returns the number of
    counter rows."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE orders IN SHARE MODE"))
        session.execute(delete(OrderStat))
        session.execute(
            text(
                "INSERT INTO order_stats (month, status, orders, revenue_pence) "
                "SELECT date_trunc('month', created_at AT TIME ZONE :zone)::date, status, "
                "count(*), sum(total_price * 100)::bigint FROM orders GROUP BY 1, 2"
            ),
            {"zone": SHOP_TIME_ZONE.key},
        )
    else:  # SQLite (the embedded default) has no time zones: bucket in Python
        session.execute(delete(OrderStat))
        changes: Changes = defaultdict(lambda: [0, 0])
        for created_at, status, total in session.execute(
            select(Order.created_at, Order.status, Order.total_price)
        ):
            _count(changes, created_at, status, total, +1)
        if changes:
            session.execute(
                insert(OrderStat),
                [
                    {"month": month, "status": status, "orders": orders, "revenue_pence": pence}
                    for (month, status), (orders, pence) in sorted(changes.items())
                ],
            )
    return int(session.scalar(select(func.count()).select_from(OrderStat)))


# --- reading them --------------------------------------------------------------------------


def order_count(session: Session, *, status: str | None = None) -> int:
    """How many orders there are (of one status): one statement over the counter rows."""
    statement = select(func.coalesce(func.sum(OrderStat.orders), 0))
    if status is not None:
        statement = statement.where(OrderStat.status == status)
    return int(session.scalar(statement))


def figures(session: Session, *, year: int, ongoing: tuple[str, ...]) -> dict:
    """The dashboard's order figures: every order, the ongoing ones, the revenue, and the
    orders of each month of `year`. One statement over the counter rows, grouped into the
    months of `year` and one bucket for every other month (at most 13 rows)."""
    in_year = (OrderStat.month >= date(year, 1, 1)) & (OrderStat.month < date(year + 1, 1, 1))
    month = case((in_year, OrderStat.month), else_=None).label("month_of_year")
    rows = session.execute(
        select(
            month,
            func.sum(OrderStat.orders),
            func.sum(case((OrderStat.status.in_(ongoing), OrderStat.orders), else_=0)),
            func.sum(OrderStat.revenue_pence),
        ).group_by(month)
    ).all()
    per_month = {str(number): 0 for number in range(1, 13)}
    overall = ongoing_orders = pence = 0
    for row_month, orders, ongoing_in_row, row_pence in rows:
        overall += int(orders or 0)
        ongoing_orders += int(ongoing_in_row or 0)
        pence += int(row_pence or 0)
        if row_month is not None:
            per_month[str(row_month.month)] += int(orders or 0)
    return {
        "ongoing_orders": ongoing_orders,
        "orders_overall": overall,
        "total_revenue": (Decimal(pence) * PENNY).quantize(PENNY),
        "graph_data": per_month,
    }
