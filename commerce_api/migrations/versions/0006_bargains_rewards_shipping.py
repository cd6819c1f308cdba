"""Bargains (砍价), points rewards (积分兑换), delivery fees, staff-only coupons, points per discount line.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('bargain_deals',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('floor_price', sa.BigInteger(), nullable=False),
    sa.Column('min_cut', sa.BigInteger(), nullable=False),
    sa.Column('max_cut', sa.BigInteger(), nullable=False),
    sa.Column('hours_to_finish', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('floor_price > 0 AND min_cut > 0 AND max_cut >= min_cut AND hours_to_finish > 0 '
                       'AND ends_at > starts_at', name='ck_bargain_deal'),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('bargains',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('deal_id', Id, nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('start_price', sa.BigInteger(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('helpers', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=True),
    sa.Column('deadline', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('price > 0 AND price <= start_price', name='ck_bargain_price'),
    sa.ForeignKeyConstraint(['deal_id'], ['bargain_deals.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bargains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bargains_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bargains_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bargains_updated_at'), ['updated_at'], unique=False)
    op.create_table('bargain_helps',
    sa.Column('bargain_id', Id, nullable=False),
    sa.Column('helper_id', sa.String(length=64), nullable=False),
    sa.Column('cut', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bargain_id'], ['bargains.id'], ),
    sa.ForeignKeyConstraint(['helper_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('bargain_id', 'helper_id')
    )
    op.create_table('points_rewards',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('max_quantity', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('points > 0 AND max_quantity >= 1 AND ends_at > starts_at', name='ck_points_reward'),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bargain_id', Id, nullable=True))
        batch_op.add_column(sa.Column('shipping_fee', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_foreign_key('fk_orders_bargain_id', 'bargains', ['bargain_id'], ['id'])
    with op.batch_alter_table('coupon_definitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_only', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('order_discounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points', sa.BigInteger(), server_default='0', nullable=False))
    # redeemed points paid one minor unit each: the points of those lines are their amounts
    op.execute("UPDATE order_discounts SET points = amount WHERE kind = 'points'")


def downgrade() -> None:
    with op.batch_alter_table('order_discounts', schema=None) as batch_op:
        batch_op.drop_column('points')
    with op.batch_alter_table('coupon_definitions', schema=None) as batch_op:
        batch_op.drop_column('staff_only')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('fk_orders_bargain_id', type_='foreignkey')
        batch_op.drop_column('shipping_fee')
        batch_op.drop_column('bargain_id')
    op.drop_table('points_rewards')
    op.drop_table('bargain_helps')
    op.drop_table('bargains')
    op.drop_table('bargain_deals')
