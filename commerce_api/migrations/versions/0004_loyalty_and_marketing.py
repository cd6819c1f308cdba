"""loyalty and marketing: tier rules, the points ledger, campaigns and their members, coupon
definitions, member coupons and their uses, order discount lines; customers.tier_since/updated_at,
orders.subtotal/points_redeemed/coupon ids, return_requests.points

Existing members keep their points as one opening entry of the ledger (so the balance stays
the sum of the ledger); existing orders get subtotal = total (they had no discounts).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_definitions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('rule', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=True),
    sa.Column('stores', sa.JSON(), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('usage_limit', sa.BigInteger(), nullable=True),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('per_customer_limit', sa.Integer(), nullable=True),
    sa.Column('stacks_with_campaigns', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name='ck_coupon_window'),
    sa.CheckConstraint('used >= 0 AND (usage_limit IS NULL OR used <= usage_limit)', name='ck_coupon_usage'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('tier_rules',
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('min_spend', sa.BigInteger(), nullable=False),
    sa.Column('discount_percent', sa.Integer(), nullable=False),
    sa.Column('points_percent', sa.Integer(), nullable=False),
    sa.Column('birthday_coupon', sa.BigInteger(), nullable=False),
    sa.Column('free_shipping_threshold', sa.BigInteger(), nullable=True),
    sa.Column('return_limit_factor', sa.Integer(), nullable=False),
    sa.CheckConstraint('discount_percent BETWEEN 0 AND 100 AND points_percent >= 0 AND min_spend >= 0 AND return_limit_factor >= 1', name='ck_tier_rule'),
    sa.PrimaryKeyConstraint('tier'),
    sa.UniqueConstraint('rank')
    )
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.JSON(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('audience', sa.String(length=200), nullable=True),
    sa.Column('control_percent', sa.Integer(), nullable=False),
    sa.Column('coupon_definition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('audience_size', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('launched_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at AND control_percent BETWEEN 0 AND 90', name='ck_campaign'),
    sa.ForeignKeyConstraint(['coupon_definition_id'], ['coupon_definitions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_updated_at'), ['updated_at'], unique=False)

    op.create_table('coupon_uses',
    sa.Column('definition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.CheckConstraint('uses >= 0', name='ck_coupon_uses'),
    sa.ForeignKeyConstraint(['definition_id'], ['coupon_definitions.id'], ),
    sa.PrimaryKeyConstraint('definition_id', 'customer_id')
    )
    op.create_table('campaign_members',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.String(length=10), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'customer_id')
    )
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_members_customer', ['customer_id'], unique=False)

    op.create_table('coupons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('definition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=True),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['definition_id'], ['coupon_definitions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('definition_id', 'customer_id', name='uq_coupon_member')
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_customer', ['customer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_updated_at'), ['updated_at'], unique=False)

    op.create_table('points_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=256), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('available_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('remaining >= 0 AND (delta >= 0 OR remaining = 0) AND remaining <= CASE WHEN delta > 0 THEN delta ELSE 0 END', name='ck_points_remaining'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'kind', 'reference', name='uq_points_reference')
    )
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_ledger_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_points_expiry', ['expires_at'], unique=False)

    op.create_table('order_discounts',
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount > 0', name='ck_discount_amount'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('order_id', 'line_number', 'source')
    )
    with op.batch_alter_table('order_discounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_discounts_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_updated_at'), ['updated_at'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subtotal', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('points_redeemed', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('coupon_definition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key('fk_orders_coupon_id', 'coupons', ['coupon_id'], ['id'])
        batch_op.create_foreign_key('fk_orders_coupon_definition_id', 'coupon_definitions',
                                    ['coupon_definition_id'], ['id'])
    with op.batch_alter_table('return_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute("UPDATE orders SET subtotal = total")
    op.execute("UPDATE customers SET updated_at = created_at, tier_since = created_at")
    op.execute("UPDATE customers SET points = 0 WHERE points < 0")
    op.execute("INSERT INTO points_ledger (customer_id, delta, kind, reference, remaining, available_at, "
               "expires_at, created_at) SELECT id, points, 'opening', 'opening balance', points, created_at, "
               "NULL, created_at FROM customers WHERE points > 0")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_check_constraint('ck_points_non_negative', 'points >= 0')
    tiers = sa.table('tier_rules', *(sa.column(c) for c in (
        'tier', 'rank', 'min_spend', 'discount_percent', 'points_percent', 'birthday_coupon',
        'free_shipping_threshold', 'return_limit_factor')))
    # the default programme (minor units: 200,000 = 2,000 yuan); a retailer changes the rows
    op.bulk_insert(tiers, [
        {'tier': 'member', 'rank': 0, 'min_spend': 0, 'discount_percent': 0, 'points_percent': 100,
         'birthday_coupon': 0, 'free_shipping_threshold': 9900, 'return_limit_factor': 1},
        {'tier': 'silver', 'rank': 1, 'min_spend': 200_000, 'discount_percent': 2, 'points_percent': 125,
         'birthday_coupon': 2000, 'free_shipping_threshold': 4900, 'return_limit_factor': 1},
        {'tier': 'gold', 'rank': 2, 'min_spend': 800_000, 'discount_percent': 5, 'points_percent': 150,
         'birthday_coupon': 5000, 'free_shipping_threshold': 0, 'return_limit_factor': 2},
        {'tier': 'diamond', 'rank': 3, 'min_spend': 2_000_000, 'discount_percent': 8, 'points_percent': 200,
         'birthday_coupon': 10000, 'free_shipping_threshold': 0, 'return_limit_factor': 2},
    ])


def downgrade() -> None:
    with op.batch_alter_table('return_requests', schema=None) as batch_op:
        batch_op.drop_column('points')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('fk_orders_coupon_id', type_='foreignkey')
        batch_op.drop_constraint('fk_orders_coupon_definition_id', type_='foreignkey')
        batch_op.drop_column('coupon_id')
        batch_op.drop_column('coupon_definition_id')
        batch_op.drop_column('points_redeemed')
        batch_op.drop_column('subtotal')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint('ck_points_non_negative', type_='check')
        batch_op.drop_index(batch_op.f('ix_customers_updated_at'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('tier_since')

    op.drop_table('order_discounts')
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_points_expiry')
        batch_op.drop_index(batch_op.f('ix_points_ledger_customer_id'))

    op.drop_table('points_ledger')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_customer')

    op.drop_table('coupons')
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_members_customer')

    op.drop_table('campaign_members')
    op.drop_table('coupon_uses')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_updated_at'))
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))

    op.drop_table('campaigns')
    op.drop_table('tier_rules')
    op.drop_table('coupon_definitions')
