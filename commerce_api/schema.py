"""Tables of the commerce API (SQLAlchemy 2). Money is in integer minor units (fen / cents).

Inventory follows Saleor's warehouse model: per SKU x location x pool a ``stock_levels`` row holds
on hand, reserved (orders not yet paid) and allocated (paid, not yet shipped); available =
on_hand - reserved - allocated, which CHECK constraints keep from going negative. Every change to a
stock row is also written to ``stock_movements`` (append-only), so the levels can be rebuilt from
the ledger and checked against it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Autoincrement keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # timestamps are naive UTC everywhere (SQLite has no time zones): see clock.py
    type_annotation_map = {datetime: DateTime()}


class Supplier(Base):
    __tablename__ = "suppliers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(200), index=True)
    brand: Mapped[str | None] = mapped_column(String(200))
    supplier_id: Mapped[str | None] = mapped_column(ForeignKey("suppliers.id"))
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    # pre-sale: a deposit (percent of the price) now, the balance later, shipping after a date
    presale_ship_after: Mapped[date | None] = mapped_column(Date)
    presale_deposit_pct: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class CatalogueVersion(Base):
    """One row whose ``version`` goes up with every change to ``products`` or ``skus``: database
    triggers bump it (migration 0002), so no writer can forget. Catalogue pages are cached per
    process under the version they were read at (``routes/catalogue.py``)."""

    __tablename__ = "catalogue_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Sku(Base):
    __tablename__ = "skus"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    spec: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. {"colour": "red", "size": "M"}
    barcode: Mapped[str | None] = mapped_column(String(64), unique=True)
    list_price: Mapped[int] = mapped_column(BigInteger)
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    visible_channels: Mapped[list | None] = mapped_column(JSON)  # None: every channel
    stock_pools: Mapped[str] = mapped_column(String(16), default="shared")  # shared | per_channel
    updated_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("list_price >= 0", name="ck_sku_price"),
                      CheckConstraint("stock_pools IN ('shared', 'per_channel')", name="ck_sku_pools"))


class RegionalPrice(Base):
    __tablename__ = "regional_prices"
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    price: Mapped[int] = mapped_column(BigInteger)


class PromoPrice(Base):
    """A promotional price valid in [starts_at, ends_at), optionally for one region or channel."""

    __tablename__ = "promo_prices"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"), index=True)
    price: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    region: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ck_promo_window"),)


class FlashSale(Base):
    __tablename__ = "flash_sales"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"), index=True)
    price: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    per_customer_limit: Mapped[int] = mapped_column(Integer)


class FlashPurchase(Base):
    """Units bought per customer in a flash sale; the limit is enforced by a conditional upsert."""

    __tablename__ = "flash_purchases"
    flash_sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("quantity >= 0", name="ck_flash_qty"),)


class Location(Base):
    __tablename__ = "locations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # central_warehouse | regional_warehouse | store
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (CheckConstraint(
        "kind IN ('central_warehouse', 'regional_warehouse', 'store')", name="ck_location_kind"),)


class StockLevel(Base):
    __tablename__ = "stock_levels"
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    pool: Mapped[str] = mapped_column(String(32), primary_key=True, default="shared")  # 'shared' or a channel
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("on_hand >= 0 AND reserved >= 0 AND allocated >= 0", name="ck_stock_non_negative"),
        CheckConstraint("on_hand - reserved - allocated >= 0", name="ck_stock_available"),
        Index("ix_stock_location", "location_id"),
    )


class StockMovement(Base):
    """The append-only ledger. ``kind``: receipt, transfer_out, transfer_in, sale, return,
    adjustment, reservation, release, allocation, deallocation."""

    __tablename__ = "stock_movements"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    on_hand_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    allocated_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    reference: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_movements_sku_location", "sku", "location_id"),)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(64))
    home_store_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    tier: Mapped[str] = mapped_column(String(16), default="member")  # member | silver | gold | diamond
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_value: Mapped[int] = mapped_column(BigInteger, default=0)
    birthday: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    # when the member reached their tier (a downgrade waits out the grace period after it) and when the
    # row last changed (the platform reads members incrementally by it)
    tier_since: Mapped[datetime | None]
    updated_at: Mapped[datetime | None] = mapped_column(index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # verified: two members, one person
    invite_code: Mapped[str | None] = mapped_column(String(16))
    merged_into: Mapped[str | None] = mapped_column(String(64))  # the member this one was merged into
    __table_args__ = (CheckConstraint("stored_value >= 0", name="ck_stored_value_non_negative"),
                      CheckConstraint("points >= 0", name="ck_points_non_negative"),
                      UniqueConstraint("invite_code", name="uq_customers_invite_code"))


class StoredValueEntry(Base):
    """Ledger of the stored-value card: every top-up, payment and refund with the balance after it."""

    __tablename__ = "stored_value_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # shopper | store_staff | marketer | admin | service
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    store_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Cart(Base):
    __tablename__ = "carts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    checked_out_order_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime]
    # the store whose staff opened it (a till cart); none for a shopper's online cart
    store_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", name="fk_carts_store_id"), index=True)


class CartLine(Base):
    __tablename__ = "cart_lines"
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_cart_qty"),)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    fulfillment: Mapped[str] = mapped_column(String(16))  # delivery | pickup | in_store
    store_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))  # pickup or till store
    delivery_region: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), index=True)
    total: Mapped[int] = mapped_column(BigInteger)  # to pay: the subtotal less every discount
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)  # the lines at the price in force
    points_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_definition_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_definitions.id", name="fk_orders_coupon_definition_id"), index=True)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", name="fk_orders_coupon_id"))
    group_buy_id: Mapped[int | None] = mapped_column(ForeignKey("group_buys.id", name="fk_orders_group_buy_id"),
                                                     index=True)
    bargain_id: Mapped[int | None] = mapped_column(ForeignKey("bargains.id", name="fk_orders_bargain_id"))
    deposit: Mapped[int] = mapped_column(BigInteger, default=0)  # pre-sale deposit due first
    shipping_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # in total; not discounted
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_until: Mapped[datetime | None] = mapped_column(index=True)
    ship_after: Mapped[date | None] = mapped_column(Date)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    __table_args__ = (CheckConstraint("paid >= 0 AND refunded >= 0 AND refunded <= paid", name="ck_order_money"),)


class OrderLine(Base):
    __tablename__ = "order_lines"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    price_rule: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    pool: Mapped[str] = mapped_column(String(32))
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)
    flash_sale_id: Mapped[int | None] = mapped_column(ForeignKey("flash_sales.id"))
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_line_qty"),)


class Shipment(Base):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(24))  # allocated | shipped | delivered | picked_up
    carrier: Mapped[str | None] = mapped_column(String(32))
    waybill: Mapped[str | None] = mapped_column(String(64), unique=True)
    tracking_status: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(24))  # wechat_pay | alipay | stored_value
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | refunded | failed
    provider_txn_id: Mapped[str | None] = mapped_column(String(128))
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    __table_args__ = (UniqueConstraint("provider", "provider_txn_id", name="uq_payment_provider_txn"),
                      CheckConstraint("amount > 0 AND refunded >= 0 AND refunded <= amount", name="ck_payment_money"))


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    provider_refund_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ReturnRequest(Base):
    __tablename__ = "return_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # return | exchange
    lines: Mapped[list] = mapped_column(JSON)  # [{"line_number": n, "quantity": q}]
    amount: Mapped[int] = mapped_column(BigInteger)  # money back: the lines less their share of every discount
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # redeemed points back: the lines' share
    status: Mapped[str] = mapped_column(String(16))  # approved | pending_review | rejected
    priority: Mapped[str] = mapped_column(String(8), default="normal")  # high for gold and diamond members
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    """Spree-style idempotency: same key + same body -> the first response; other body -> 422."""

    __tablename__ = "idempotency_keys"
    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]


# ------------------------------------------------------------------------------ loyalty (Open Loyalty)
class TierRule(Base):
    """A tier and its benefits, as data: reached at ``min_spend`` of qualifying spend (paid, not
    refunded) in a rolling 12 months. ``discount_percent`` off at checkout, points earned at
    ``points_percent`` of the base rate, a birthday coupon worth ``birthday_coupon`` minor units, and
    ``return_limit_factor`` times the automatic return-approval limit."""

    __tablename__ = "tier_rules"
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    min_spend: Mapped[int] = mapped_column(BigInteger)
    discount_percent: Mapped[int] = mapped_column(Integer, default=0)
    points_percent: Mapped[int] = mapped_column(Integer, default=100)
    birthday_coupon: Mapped[int] = mapped_column(BigInteger, default=0)
    free_shipping_threshold: Mapped[int | None] = mapped_column(BigInteger)
    return_limit_factor: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (CheckConstraint("discount_percent BETWEEN 0 AND 100 AND points_percent >= 0 "
                                      "AND min_spend >= 0 AND return_limit_factor >= 1", name="ck_tier_rule"),)


class PointsEntry(Base):
    """The points ledger, append-only in its amounts: a positive entry was earned (``remaining``: what of
    it is not yet spent or expired; redemptions and expiry use the oldest first), a negative one spent,
    reversed or expired. ``customers.points`` = the sum of ``delta`` = the sum of ``remaining``."""

    __tablename__ = "points_ledger"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    delta: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # opening | purchase | <behaviour kind> | redemption | refund | reversal | expiry
    reference: Mapped[str] = mapped_column(String(256))
    remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    available_at: Mapped[datetime]  # spendable from (purchases: when the return window closed)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("remaining >= 0 AND (delta >= 0 OR remaining = 0) AND remaining <= "
                                      "CASE WHEN delta > 0 THEN delta ELSE 0 END", name="ck_points_remaining"),
                      Index("ix_points_expiry", "expires_at"),
                      UniqueConstraint("customer_id", "kind", "reference", name="uq_points_reference"))


# ------------------------------------------------------------------ marketing (Saleor's vouchers)
class Campaign(Base):
    """A campaign: a price rule (``discounts.Rule``: spend_save, percent_off, amount_off) for its
    audience in [starts_at, ends_at), or a coupon handed to its audience (kind ``coupon``). Without an
    audience it is for everyone; with one, members drawn into the control group get nothing."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # spend_save | percent_off | amount_off | coupon
    rule: Mapped[dict] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), index=True)  # draft | live | ended
    audience: Mapped[str | None] = mapped_column(String(200))  # segment:<name> | list | None (everyone)
    control_percent: Mapped[int] = mapped_column(Integer, default=0)
    coupon_definition_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_definitions.id"))
    audience_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    launched_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    __table_args__ = (CheckConstraint("ends_at > starts_at AND control_percent BETWEEN 0 AND 90",
                                      name="ck_campaign"),)


class CampaignMember(Base):
    __tablename__ = "campaign_members"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    grp: Mapped[str] = mapped_column(String(10))  # treatment | control
    added_at: Mapped[datetime]
    __table_args__ = (Index("ix_campaign_members_customer", "customer_id"),)


class CouponDefinition(Base):
    """A voucher: a ``discounts.Rule`` (kind, value, thresholds, min_spend, max_discount, skus,
    categories) with where it applies (channels, stores), when, and its limits: ``usage_limit`` uses
    in all (``used`` counts them), ``per_customer_limit`` per member. With a ``code`` anyone may type
    it; without, it is used through member-bound coupons (``coupons``)."""

    __tablename__ = "coupon_definitions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[dict] = mapped_column(JSON)
    channels: Mapped[list | None] = mapped_column(JSON)
    stores: Mapped[list | None] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    usage_limit: Mapped[int | None] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)  # counted only under a usage_limit
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)  # None: no per-member limit (guests too)
    stacks_with_campaigns: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    staff_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # applied at a till by staff
    __table_args__ = (CheckConstraint("used >= 0 AND (usage_limit IS NULL OR used <= usage_limit)",
                                      name="ck_coupon_usage"),
                      CheckConstraint("ends_at > starts_at", name="ck_coupon_window"))


class Coupon(Base):
    """A coupon handed to one member (a campaign's, a birthday's): used once."""

    __tablename__ = "coupons"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("coupon_definitions.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    status: Mapped[str] = mapped_column(String(10))  # issued | used
    order_id: Mapped[str | None] = mapped_column(String(36))
    issued_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)  # issued, used or given back: the loop reads by it
    __table_args__ = (UniqueConstraint("definition_id", "customer_id", name="uq_coupon_member"),
                      Index("ix_coupons_customer", "customer_id", "status"))


class CouponUse(Base):
    """Uses per definition and member; the per-member limit is enforced by a conditional upsert."""

    __tablename__ = "coupon_uses"
    definition_id: Mapped[int] = mapped_column(ForeignKey("coupon_definitions.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("uses >= 0", name="ck_coupon_uses"),)


class OrderDiscount(Base):
    """Every discount line of an order (``discounts.DiscountLine``): per order line, kind and source."""

    __tablename__ = "order_discounts"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(index=True)
    # points this line cost (redeemed points: = amount; a points reward: its share of the reward's points)
    points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    __table_args__ = (CheckConstraint("amount > 0", name="ck_discount_amount"),)


# ------------------------------------------------------------------ group buys (拼团) and referrals
class GroupDeal(Base):
    """A group-buy deal: ``sku`` at ``group_price`` (minor units) to groups of ``group_size`` members
    that form within ``hours_to_form`` of being opened; a member buys at most ``max_quantity``."""

    __tablename__ = "group_deals"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"))
    group_price: Mapped[int] = mapped_column(BigInteger)
    group_size: Mapped[int] = mapped_column(Integer)
    hours_to_form: Mapped[int] = mapped_column(Integer)
    max_quantity: Mapped[int] = mapped_column(Integer, default=1)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("group_price > 0 AND group_size BETWEEN 2 AND 100 AND hours_to_form > 0 "
                                      "AND max_quantity >= 1 AND ends_at > starts_at", name="ck_group_deal"),)


class GroupBuy(Base):
    """One group of a deal: ``members`` seats taken by its members' orders (never above ``size``: a
    conditional UPDATE takes a seat), ``forming`` until full (``formed``) or its deadline (``failed``:
    every order in it is cancelled and refunded)."""

    __tablename__ = "group_buys"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("group_deals.id"), index=True)
    leader_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    size: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))  # forming | formed | failed
    deadline: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("members BETWEEN 0 AND size", name="ck_group_members"),)


class Referral(Base):
    """Who invited whom (one referrer per invitee), rewarded once the invitee's first order completes."""

    __tablename__ = "referrals"
    invitee_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    referrer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(128), unique=True)  # one device is referred once
    status: Mapped[str] = mapped_column(String(10))  # pending | rewarded
    created_at: Mapped[datetime]
    rewarded_at: Mapped[datetime | None]


# ------------------------------------------------------------------ bargains (砍价) and points rewards
class BargainDeal(Base):
    """A bargain: a member starts one on ``sku`` at its price in force; each invited friend cuts a
    random amount between ``min_cut`` and ``max_cut`` (minor units) off it, never below
    ``floor_price``, within ``hours_to_finish``; the member buys it at the price reached."""

    __tablename__ = "bargain_deals"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"))
    floor_price: Mapped[int] = mapped_column(BigInteger)
    min_cut: Mapped[int] = mapped_column(BigInteger)
    max_cut: Mapped[int] = mapped_column(BigInteger)
    hours_to_finish: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("floor_price > 0 AND min_cut > 0 AND max_cut >= min_cut AND hours_to_finish > 0"
                                      " AND ends_at > starts_at", name="ck_bargain_deal"),)


class Bargain(Base):
    """One member's bargain: ``price`` falls with each friend's cut (never below the deal's floor);
    ``open`` until bought (``used``: the order holds it; a cancelled order gives it back)."""

    __tablename__ = "bargains"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("bargain_deals.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    start_price: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    helpers: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8))  # open | used
    order_id: Mapped[str | None] = mapped_column(String(36))
    deadline: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    __table_args__ = (CheckConstraint("price > 0 AND price <= start_price", name="ck_bargain_price"),)


class BargainHelp(Base):
    """A friend's cut: one per friend and bargain (the primary key refuses a second)."""

    __tablename__ = "bargain_helps"
    bargain_id: Mapped[int] = mapped_column(ForeignKey("bargains.id"), primary_key=True)
    helper_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    cut: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class PointsReward(Base):
    """A SKU members take for ``points`` per unit instead of money (积分兑换), from normal stock."""

    __tablename__ = "points_rewards"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(ForeignKey("skus.sku"))
    points: Mapped[int] = mapped_column(BigInteger)
    max_quantity: Mapped[int] = mapped_column(Integer, default=1)  # units per order
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("points > 0 AND max_quantity >= 1 AND ends_at > starts_at",
                                      name="ck_points_reward"),)
