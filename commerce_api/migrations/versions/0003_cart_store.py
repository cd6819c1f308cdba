"""carts.store_id: the store whose staff opened a cart (none for a shopper's online cart)

Staff act on their own store's carts only; before this a cart did not say whose it was.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store_id', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key('fk_carts_store_id', 'locations', ['store_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_carts_store_id'), ['store_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carts_store_id'))
        batch_op.drop_constraint('fk_carts_store_id', type_='foreignkey')
        batch_op.drop_column('store_id')
