"""Group buys (deals, groups, orders.group_buy_id), referrals, members' phone, invite code and merges.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('group_deals',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('group_price', sa.BigInteger(), nullable=False),
    sa.Column('group_size', sa.Integer(), nullable=False),
    sa.Column('hours_to_form', sa.Integer(), nullable=False),
    sa.Column('max_quantity', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('group_price > 0 AND group_size BETWEEN 2 AND 100 AND hours_to_form > 0 AND max_quantity >= 1 '
                       'AND ends_at > starts_at', name='ck_group_deal'),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('group_buys',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('deal_id', Id, nullable=False),
    sa.Column('leader_id', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('deadline', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('members BETWEEN 0 AND size', name='ck_group_members'),
    sa.ForeignKeyConstraint(['deal_id'], ['group_deals.id'], ),
    sa.ForeignKeyConstraint(['leader_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('group_buys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_buys_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_buys_deadline'), ['deadline'], unique=False)
    op.create_table('referrals',
    sa.Column('invitee_id', sa.String(length=64), nullable=False),
    sa.Column('referrer_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('rewarded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['invitee_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['referrer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('invitee_id'),
    sa.UniqueConstraint('device_id')
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_referrer_id'), ['referrer_id'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('invite_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_phone'), ['phone'], unique=False)
        batch_op.create_unique_constraint('uq_customers_invite_code', ['invite_code'])
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_buy_id', Id, nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_group_buy_id'), ['group_buy_id'], unique=False)
        batch_op.create_foreign_key('fk_orders_group_buy_id', 'group_buys', ['group_buy_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_orders_coupon_definition_id'), ['coupon_definition_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_coupon_definition_id'))
        batch_op.drop_constraint('fk_orders_group_buy_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_orders_group_buy_id'))
        batch_op.drop_column('group_buy_id')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint('uq_customers_invite_code', type_='unique')
        batch_op.drop_index(batch_op.f('ix_customers_phone'))
        batch_op.drop_column('merged_into')
        batch_op.drop_column('invite_code')
        batch_op.drop_column('phone')
    op.drop_table('referrals')
    op.drop_table('group_buys')
    op.drop_table('group_deals')
