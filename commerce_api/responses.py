"""What the API answers, as Pydantic models: every route declares one, so the OpenAPI spec documents
every response body and a shop front end can generate a typed client.

Sync routes that return a dict are validated against their model by FastAPI. The hot paths
(product pages, stock reads, till scans, placing orders) answer with ``json_as_is`` and skip that
step (see ``deps.json_as_is``); their models document them, and the schemathesis tests check that
every answer conforms (``tests/test_commerce_fuzz.py``). Models refuse unknown fields, so a route
that starts answering something its model does not declare fails the tests instead of drifting.
Amounts are integers in minor units (fen / cents), as in the requests; times are ISO 8601 strings.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]
Amount = Annotated[int, Field(description="minor units (fen / cents)")]
Item = TypeVar("Item")


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paged(Out, Generic[Item]):
    """One page of a list: ``limit`` items from ``offset`` of ``total``."""
    items: list[Item]
    total: int
    limit: int
    offset: int


class Items(Out, Generic[Item]):
    items: list[Item]


class Health(Out):
    status: str
    serving_version: int | None = Field(description="the published version the API serves (null: none yet)")


# ---------------------------------------------------------------- catalogue
class Supplier(Out):
    id: str
    name: str
    lead_time_days: int


class SkuOut(Out):
    sku: str
    product_id: str
    spec: dict[str, str]
    barcode: str | None
    list_price: Amount
    listed: bool
    visible_channels: list[str] | None = Field(description="null: every channel")
    stock_pools: str


class ProductOut(Out):
    id: str
    name: str
    category: str
    brand: str | None
    supplier_id: str | None
    listed: bool
    presale_ship_after: Day | None
    presale_deposit_pct: int | None
    skus: list[SkuOut]


class RegionalPrice(Out):
    sku: str
    region: str
    price: Amount


class PriceRule(Out):
    """A promotion price or a flash sale over a time window."""
    id: int
    sku: str
    starts_at: Timestamp
    ends_at: Timestamp
    price: Amount
    region: str | None = None
    channel: str | None = None
    name: str | None = None
    per_customer_limit: int | None = None


class FlashSaleNow(Out):
    id: int
    price: Amount
    per_customer_limit: int
    ends_at: Timestamp


class Price(Out):
    sku: str
    price: Amount
    rule: str = Field(description="what set the price: list, regional, promotion, flash sale ...")
    list_price: Amount
    at: Timestamp
    flash_sale: FlashSaleNow | None = Field(None, description="a cheaper flash sale running now (limited per customer)")


# ---------------------------------------------------------------- members
class CustomerOut(Out):
    id: str
    member_code: str = Field(description="the code a till scans")
    name: str | None
    region: str | None
    home_store_id: str | None
    tier: str
    points: int
    stored_value: Amount
    birthday: Day | None
    merged_into: str | None = Field(None, description="set when this member was merged into another")


class Balance(Out):
    customer_id: str
    balance: Amount


class StoredValueEntry(Out):
    delta: Amount = Field(description="top-up (positive) or payment / refund (signed)")
    balance_after: Amount
    reference: str
    at: Timestamp


class StoredValue(Paged[StoredValueEntry]):
    balance: Amount


class TillScan(Out):
    sku: str
    barcode: str | None
    name: str
    spec: dict[str, str]
    price: Amount
    price_rule: str
    list_price: Amount
    store_id: str
    available: int
    listed: bool


# ---------------------------------------------------------------- locations and stock
class LocationOut(Out):
    id: str
    kind: str
    name: str
    region: str | None
    parent_id: str | None
    latitude: float | None
    longitude: float | None
    pickup: bool


class PickupStore(LocationOut):
    available: int
    distance_km: float


class NearbyStores(Out):
    sku: str
    quantity: int
    stores: list[PickupStore]


class ShipsFrom(Out):
    location_id: str
    kind: str
    quantity: int
    days: int


class DeliveryEstimate(Out):
    sku: str
    region: str
    quantity: int
    days: int
    estimated_delivery: Day
    ships_from: list[ShipsFrom]


class Level(Out):
    sku: str
    location_id: str
    pool: str = Field(description="shared, or a channel with its own stock")
    on_hand: int
    reserved: int = Field(description="held by checkouts not yet paid")
    allocated: int = Field(description="paid, not yet shipped")
    available: int


class CountResult(Items[Level]):
    adjustment: int = Field(description="units the count added (negative: removed)")


class LedgerMismatch(Out):
    key: list[str]
    levels: list[int] | None
    ledger: list[int] | None


class LedgerCheck(Out):
    balanced: bool
    mismatches: list[LedgerMismatch]


class Movement(Out):
    id: int
    sku: str
    location_id: str
    pool: str
    kind: str
    on_hand_delta: int
    reserved_delta: int
    allocated_delta: int
    reference: str | None
    created_at: Timestamp


# ---------------------------------------------------------------- orders, payments, returns, carts
class OrderLine(Out):
    line_number: int
    sku: str
    quantity: int
    unit_price: Amount
    price_rule: str
    location_id: str | None
    returned_quantity: int


class DiscountOut(Out):
    """One discount line: what ``source`` (reward:<id>, tier:<name>, campaign:<id>, coupon:<id>, points) took
    off a line."""
    line_number: int
    kind: str
    source: str
    amount: Amount
    points: int = Field(0, description="points it cost: redeemed points, or a points reward's share")


class ShipmentOfOrder(Out):
    id: int
    location_id: str
    status: str
    carrier: str | None
    waybill: str | None
    tracking_status: str | None


class OrderOut(Out):
    id: str
    status: str
    customer_id: str | None
    channel: str
    fulfillment: str
    store_id: str | None
    delivery_region: str | None
    subtotal: Amount = Field(description="the lines at the price in force, before discounts")
    total: Amount = Field(description="to pay: the subtotal less every discount line, plus the shipping fee")
    shipping_fee: Amount = Field(0, description="delivery fee (none at or over the member tier's free-shipping "
                                                "threshold; not refunded for returned lines)")
    points_redeemed: int = Field(description="points spent: redeemed against the price and paid for points rewards")
    group_buy_id: int | None = Field(None, description="the group buy the order is in")
    bargain_id: int | None = Field(None, description="the bargain the order buys")
    discounts: list[DiscountOut]
    deposit: Amount
    paid: Amount
    refunded: Amount
    amount_due: Amount
    reserved_until: Timestamp | None
    ship_after: Day | None
    cancel_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp
    lines: list[OrderLine]
    shipments: list[ShipmentOfOrder]


class PlacedOrder(OrderOut):
    idempotent_replay: bool = Field(description="true: the answer of an earlier request with the same Idempotency-Key")


class PaymentOut(Out):
    id: str
    order_id: str
    method: str
    amount: Amount
    status: str
    refunded: Amount
    provider: dict[str, Any] = Field(description="what the payment provider's app needs to pay (empty when settled)")
    created_at: Timestamp


class PaymentStarted(Out):
    payment: PaymentOut
    order: OrderOut
    idempotent_replay: bool


class CallbackResult(Out):
    payment_id: str
    status: str
    order_status: str | None = None
    outcome: str | None = None
    replayed: bool


class TrackingResult(Out):
    waybill: str
    status: str
    replayed: bool


class ReturnLine(Out):
    line_number: int
    quantity: int


class ReturnOut(Out):
    id: int
    order_id: str
    kind: str
    lines: list[ReturnLine]
    amount: Amount = Field(description="money back: the lines less their share of each discount")
    points: int = Field(description="redeemed points given back: the lines' share of the points discount")
    status: str
    priority: str
    reason: str | None
    decision: str | None
    created_at: Timestamp


class ReturnWithOrder(ReturnOut):
    order: OrderOut


class CartLine(Out):
    sku: str
    quantity: int


class CartOut(Out):
    id: str
    customer_id: str | None
    channel: str
    store_id: str | None
    order_id: str | None = Field(description="the order the cart became at checkout")
    lines: list[CartLine]


class ShipmentOut(Out):
    waybill: str
    order_id: str
    status: str
    carrier: str | None
    tracking_status: str | None
    updated_at: Timestamp


# ---------------------------------------------------------------- integrations
class EventError(Out):
    index: int | None = Field(description="position in the batch (null: the whole batch)")
    event_id: str | None = None
    errors: list[str]


class EventIntake(Out):
    accepted: int
    rejected: int
    errors: list[EventError]
    batch: str | None = None
    files: list[str] | None = None


class ApiKey(Out):
    key: str = Field(description="shown once: only its hash is stored")
    role: str
    customer_id: str | None
    store_id: str | None


class Swept(Out):
    cancelled: list[str] = Field(description="ids of the orders whose reservation had expired: cancelled, stock released")
    groups_failed: int = Field(0, description="group buys past their deadline: failed, their orders cancelled and refunded")


class Related(Out):
    sku: str
    kind: str
    location_id: str | None
    items: list[str] = Field(description="SKUs, best first: listed, visible in the channel, in stock at the location")


class Recommendations(Out):
    customer_id: str | None
    variant: str
    source: str = Field(description="personal, or cold_start (similar to viewed items, then popular in the region)")
    channel: str | None
    location_id: str | None
    items: list[str] = Field(description="SKUs, best first: listed, visible in the channel, in stock, not in the cart")


# ---------------------------------------------------------------- insights (the published models)
class PublishedProfile(Out):
    region: str | None
    rfm_segment: str | None
    orders: int | None
    net_revenue: float | None
    last_order_at: Timestamp | None
    recency_days: int | None
    clv_365d: float | None = Field(description="predicted spend over the next 365 days (currency)")
    churn_probability: float | None
    churn_risk_band: str | None
    winback: bool = Field(description="on the win-back list: likely to churn and worth keeping")
    value_at_risk: float | None
    tags: list[str] = Field(description="behaviour tags that hold, e.g. promotion_sensitive")
    category_affinity: str | None
    preferred_channel: str | None
    as_of: Day = Field(description="the day the models scored the member")


class CouponPick(Out):
    coupon_code: str | None
    p_redeem: float = Field(description="predicted probability of redeeming the next member coupon")
    rank: int
    send: bool
    category: str | None
    reason: str | None


class OrderSummary(Out):
    id: str
    status: str
    channel: str
    total: Amount
    placed_at: Timestamp


class MemberProfile(Out):
    customer_id: str
    tier: str | None
    points: int
    home_store_id: str | None
    serving_version: int
    published: PublishedProfile | None = Field(description="null: the member joined after the live version")
    coupon: CouponPick | None
    last_orders: list[OrderSummary]


class ForecastWeek(Out):
    sku: str
    location_id: str
    week_start: Day
    forecast_units: float | None
    lower_units: float | None = Field(description="80 % interval")
    upper_units: float | None
    lower_95_units: float | None
    upper_95_units: float | None
    demand_class: str | None
    model: str | None


class Forecasts(Out):
    serving_version: int
    items: list[ForecastWeek]


class Suggestion(Out):
    sku: str
    location_id: str
    location_kind: str | None
    on_hand: float | None
    in_transit: float | None
    committed: float | None
    position: float | None
    reorder_point: float | None
    order_up_to: float | None
    suggested_quantity: float | None
    action: str | None
    source_id: str | None = Field(description="where a transfer comes from")
    days_of_cover: float | None
    reason: str | None
    as_of: Day | None


class Replenishment(Paged[Suggestion]):
    serving_version: int


class SavedSegment(Out):
    name: str
    version: int
    members_at_save: int
    note: str
    saved_at: str
    rule: dict[str, Any]


class SegmentSaved(Out):
    name: str
    version: int | None = Field(description="null for a preview")
    members: int
    serving_version: int


class SegmentMember(Out):
    customer_id: str
    region: str | None
    home_store_id: str | None
    tier: str | None
    rfm_segment: str | None
    orders: int | None
    clv_365d: float | None
    churn_probability: float | None


class SegmentMembers(Paged[SegmentMember]):
    name: str
    serving_version: int


# ---------------------------------------------------------------- loyalty and marketing
class TierOut(Out):
    tier: str
    rank: int
    min_spend: Amount
    discount_percent: int
    points_percent: int
    birthday_coupon: Amount
    free_shipping_threshold: Amount | None
    return_limit_factor: int


class PointsEntryOut(Out):
    id: int
    delta: int
    kind: str
    reference: str
    remaining: int
    available_at: Timestamp
    expires_at: Timestamp | None
    created_at: Timestamp


class PointsOut(Paged[PointsEntryOut]):
    customer_id: str
    balance: int = Field(description="spendable points (one pays one minor unit)")
    pending: int = Field(description="points of completed orders credited when their return window closes")


class CouponDefinitionOut(Out):
    id: int
    code: str | None
    name: str
    rule: dict[str, Any]
    channels: list[str] | None
    stores: list[str] | None
    starts_at: Timestamp
    ends_at: Timestamp
    usage_limit: int | None
    used: int | None = Field(description="uses so far (not shown in a member's own coupon list)")
    per_customer_limit: int | None
    stacks_with_campaigns: bool
    staff_only: bool = Field(description="applied only by store staff at their till")


class MemberCouponOut(Out):
    id: int
    status: str
    campaign_id: int | None
    order_id: str | None
    issued_at: Timestamp
    definition: CouponDefinitionOut


class CampaignOut(Out):
    id: int
    name: str
    kind: str
    rule: dict[str, Any]
    starts_at: Timestamp
    ends_at: Timestamp
    status: str
    audience: str | None
    control_percent: int
    coupon_definition_id: int | None
    audience_size: int
    launched_at: Timestamp | None
    groups: dict[str, int] = Field(description="members per group: treatment, control")
    coupons: dict[str, int] = Field(description="coupons per status: issued, used")


class LaunchOut(Out):
    campaign: CampaignOut
    audience: int
    treatment: int
    control: int
    coupons_issued: int


class LoyaltyRun(Out):
    purchases_credited: int
    points_expired: int
    tier_upgrades: int
    tier_downgrades: int
    birthday_coupons: int
    referrals_rewarded: int
    campaigns_ended: int


class GroupDealOut(Out):
    id: int
    name: str
    sku: str
    group_price: int = Field(description="minor units, per unit")
    group_size: int
    hours_to_form: int
    max_quantity: int
    starts_at: Timestamp
    ends_at: Timestamp


class GroupBuyOut(Out):
    id: int
    deal_id: int
    sku: str
    group_price: int
    size: int
    members: int
    places_left: int
    status: str = Field(description="forming, formed (full) or failed (not full by the deadline: orders refunded)")
    deadline: Timestamp
    leader_id: str


class BargainDealOut(Out):
    id: int
    name: str
    sku: str
    floor_price: int = Field(description="minor units: friends' cuts stop here")
    min_cut: int
    max_cut: int
    hours_to_finish: int
    starts_at: Timestamp
    ends_at: Timestamp


class BargainOut(Out):
    id: int
    deal_id: int
    sku: str
    customer_id: str
    start_price: int
    price: int = Field(description="what the member pays now (minor units)")
    floor_price: int
    helpers: int
    status: str = Field(description="open, used (bought: see order_id) or expired (past its deadline)")
    order_id: str | None
    deadline: Timestamp


class BargainHelpOut(Out):
    bargain: BargainOut
    cut: int = Field(description="what this friend took off the price (minor units)")


class PointsRewardOut(Out):
    id: int
    name: str
    sku: str
    points: int = Field(description="points per unit")
    max_quantity: int
    starts_at: Timestamp
    ends_at: Timestamp


class InviteCode(Out):
    customer_id: str
    code: str
    rewarded: int = Field(description="members brought whose first order completed (both were rewarded)")
    pending: int = Field(description="members brought who have not completed an order yet")


class ReferralOut(Out):
    invitee_id: str
    referrer_id: str
    status: str
    created_at: Timestamp


class Merged(Out):
    customer: CustomerOut = Field(description="the member that remains")
    merged: str = Field(description="the member merged into it")
    orders: int
    coupons: int
    points: int
    stored_value: int
    api_keys: int = Field(0, description="the merged member's keys, which now act for the one that remains")
