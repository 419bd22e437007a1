"""Order counters per month (shop time) and status, filled from the existing orders.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00.000000

"""
from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SHOP_TIME_ZONE = 'Europe/London'


def upgrade():
    op.create_table('order_stats',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('revenue_pence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'status', name=op.f('pk_order_stats'))
    )
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # One pass over the orders; the write lock keeps orders from changing meanwhile (a
        # running shop would otherwise complete an order that neither the backfill nor the
        # counters see).
        op.execute('LOCK TABLE orders IN SHARE MODE')
        op.execute(
            "INSERT INTO order_stats (month, status, orders, revenue_pence) "
            f"SELECT date_trunc('month', created_at AT TIME ZONE '{SHOP_TIME_ZONE}')::date, "
            "status, count(*), sum(total_price * 100)::bigint "
            "FROM orders GROUP BY 1, 2"
        )
        return
    # SQLite (the embedded default) has no time zones: bucket in Python.
    orders = sa.table(
        'orders',
        sa.column('created_at', sa.DateTime()),
        sa.column('status', sa.String()),
        sa.column('total_price', sa.Numeric(10, 2)),
    )
    zone = ZoneInfo(SHOP_TIME_ZONE)
    totals = defaultdict(lambda: [0, 0])
    for created_at, status, total_price in bind.execute(
        sa.select(orders.c.created_at, orders.c.status, orders.c.total_price)
    ):
        if created_at.tzinfo is None:  # stored as UTC without an offset
            created_at = created_at.replace(tzinfo=UTC)
        local = created_at.astimezone(zone)
        row = totals[(date(local.year, local.month, 1), status)]
        row[0] += 1
        row[1] += int((Decimal(total_price) * 100).to_integral_value())
    if totals:
        order_stats = sa.table(
            'order_stats',
            sa.column('month', sa.Date()),
            sa.column('status', sa.String()),
            sa.column('orders', sa.BigInteger()),
            sa.column('revenue_pence', sa.BigInteger()),
        )
        op.bulk_insert(order_stats, [
            {'month': month, 'status': status, 'orders': count, 'revenue_pence': pence}
            for (month, status), (count, pence) in sorted(totals.items())
        ])


def downgrade():
    op.drop_table('order_stats')
