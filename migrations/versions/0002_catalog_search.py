"""Catalogue indexes: case-insensitive name order and full-text search.

- ix_products_name_lower replaces ix_products_name: the shop sorts names case-insensitively.
- ix_products_search (PostgreSQL only): GIN index over to_tsvector('english', name || ' ' ||
  description) for the product search; SQLite searches with LIKE and gets no such index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SEARCH_EXPRESSION = "to_tsvector('english'::regconfig, (name::text || ' '::text) || description)"


def upgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_name')
        batch_op.create_index('ix_products_name_lower', [sa.literal_column('lower(name)')], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.create_index(
            'ix_products_search',
            'products',
            [sa.text(SEARCH_EXPRESSION)],
            unique=False,
            postgresql_using='gin',
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_products_search', table_name='products')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_name_lower')
        batch_op.create_index('ix_products_name', ['name'], unique=False)
