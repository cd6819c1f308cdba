"""The canonical raw contract: what every source (generator, importers, your own folder) lands.

One table per source entity. A landing folder holds ``<table>/`` sub-folders of Parquet or CSV
files. Daily tables (transactions, events, iot_readings, inventory_movements) are laid out as
``<table>/date=YYYY-MM-DD/<name>.parquet|csv`` where the date is the feed day the batch belongs
to; reference tables (stores, products, customers, stock_positions) are flat snapshots
``<table>/<name>.parquet``.

Every column arrives as text on the wire (CSV, JSON tracking feeds) and is typed during
ingestion, so that a value that does not parse is quarantined with a reason instead of failing
the whole file. The rules below are the record-level checks; each is a SQL predicate over the
text columns that is TRUE when the record violates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Sales channels. The synthetic retailer sells in the online and store ones; "online" is the
# channel of a channel-less online shop (real data sets such as UCI Online Retail).
ONLINE_CHANNELS: tuple[str, ...] = ("mini_program", "app", "h5", "live_stream", "community_group", "marketplace")
STORE_CHANNELS: tuple[str, ...] = ("store_pos", "self_checkout")
CHANNELS: tuple[str, ...] = (*ONLINE_CHANNELS, *STORE_CHANNELS, "online")
FULFILLMENTS: tuple[str, ...] = ("in_store", "delivery", "pickup")
LOCATION_KINDS: tuple[str, ...] = ("central_warehouse", "regional_warehouse", "store")

# Segment e-commerce spec v2 names, in funnel order first.
FUNNEL_EVENTS: tuple[str, ...] = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
)
EVENT_NAMES: tuple[str, ...] = (
    "Products Searched",
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
    "Promotion Viewed",
    "Promotion Clicked",
    "Coupon Applied",
)
IOT_KINDS: tuple[str, ...] = ("footfall", "rfid_read", "shelf_stock", "temperature")
MOVEMENT_TYPES: tuple[str, ...] = (
    "receipt",
    "transfer_out",
    "transfer_in",
    "sale",
    "return",
    "adjustment",
)

MAX_ABS_QUANTITY = 10_000  # the default largest |quantity| of a transaction line
# A retailer whose feed is aggregated (weekly store x product lines, fuel in litres) sells more per
# line: the ingestion sets this DuckDB variable from SMARTMALL_MAX_LINE_QUANTITY. Movements and
# stock positions allow 100x the line limit.
LINE_LIMIT_VARIABLE = "max_line_quantity"
_LINE_LIMIT = f"coalesce(getvariable('{LINE_LIMIT_VARIABLE}'), {MAX_ABS_QUANTITY})"
MAX_UNIT_PRICE = 1_000_000.0


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # DuckDB type the column is cast to when accepted
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """A record-level check. ``violation`` is SQL over the text columns, TRUE for a bad record."""

    name: str
    violation: str
    reason: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str | None = None  # daily tables are partitioned by the feed day
    rules: tuple[Rule, ...] = field(default=())
    description: str = ""

    @property
    def daily(self) -> bool:
        return self.time_column is not None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def references(self) -> tuple[str, ...]:
        """Reference tables whose keys the rules look up (they must be loaded first)."""
        rules = " ".join(r.violation for r in self.rules)
        return tuple(t for t in ("stores", "products") if f"known_{t}" in rules)


def _in_set(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"({column} IS NOT NULL AND {column} NOT IN ({quoted}))"


def _missing(*columns: str) -> str:
    return "(" + " OR ".join(f"nullif(trim({c}), '') IS NULL" for c in columns) + ")"


def _not_number(column: str, *, optional: bool = False) -> str:
    check = f"try_cast({column} AS DOUBLE) IS NULL OR NOT isfinite(try_cast({column} AS DOUBLE))"
    return f"({column} IS NOT NULL AND ({check}))" if optional else f"({check})"


def _not_timestamp(column: str) -> str:
    return f"(try_cast({column} AS TIMESTAMP) IS NULL)"


def _in_future(column: str) -> str:
    # a day of leeway for clocks and time zones: a record stamped later than that cannot have happened yet
    return f"(try_cast({column} AS TIMESTAMP) > now()::TIMESTAMP + INTERVAL 1 DAY)"


def _unknown_ref(column: str, ref_table: str, ref_column: str) -> str:
    # ``known_<table>`` are temporary views created by the ingestion step over raw reference
    # tables; when a reference table is empty (a source without a catalogue) the check is off.
    return (
        f"({column} IS NOT NULL AND (SELECT count(*) FROM known_{ref_table}) > 0 "
        f"AND {column} NOT IN (SELECT {ref_column} FROM known_{ref_table}))"
    )


STORES = Table(
    name="stores",
    description="Locations: central warehouse -> regional warehouses -> stores.",
    key=("store_id",),
    columns=(
        Column("store_id", "VARCHAR", True, "Location id."),
        Column("name", "VARCHAR"),
        Column("kind", "VARCHAR", True, "central_warehouse, regional_warehouse or store."),
        Column("region", "VARCHAR"),
        Column("city", "VARCHAR"),
        Column("parent_id", "VARCHAR", False, "The location that replenishes this one."),
        Column("latitude", "DOUBLE"),
        Column("longitude", "DOUBLE"),
        Column("opened_at", "DATE"),
    ),
    rules=(
        Rule("missing_required", _missing("store_id", "kind"), "store_id and kind are required"),
        Rule("unknown_location_kind", _in_set("kind", LOCATION_KINDS), "kind not in " + ", ".join(LOCATION_KINDS)),
        Rule("bad_coordinates", f"{_not_number('latitude', optional=True)} OR {_not_number('longitude', optional=True)}"
             " OR abs(try_cast(latitude AS DOUBLE)) > 90 OR abs(try_cast(longitude AS DOUBLE)) > 180",
             "latitude/longitude not numbers in range"),
    ),
)

PRODUCTS = Table(
    name="products",
    description="Catalogue at SKU level (a product has one SKU per spec, e.g. colour x size).",
    key=("sku",),
    columns=(
        Column("sku", "VARCHAR", True),
        Column("product_id", "VARCHAR"),
        Column("name", "VARCHAR"),
        Column("category", "VARCHAR"),
        Column("subcategory", "VARCHAR"),
        Column("brand", "VARCHAR"),
        Column("supplier_id", "VARCHAR"),
        Column("spec", "VARCHAR", False, "Spec of the SKU, e.g. 'black / 128GB'."),
        Column("price", "DOUBLE", False, "List price."),
        Column("cost", "DOUBLE"),
        Column("listed", "BOOLEAN"),
    ),
    rules=(
        Rule("missing_required", _missing("sku"), "sku is required"),
        Rule("bad_number", f"{_not_number('price', optional=True)} OR {_not_number('cost', optional=True)}",
             "price/cost not a number"),
        Rule("price_out_of_range",
             f"try_cast(price AS DOUBLE) < 0 OR try_cast(price AS DOUBLE) > {MAX_UNIT_PRICE}",
             f"price outside [0, {MAX_UNIT_PRICE:g}]"),
    ),
)

CUSTOMERS = Table(
    name="customers",
    description="Members: one profile for online sign-up and store card.",
    key=("customer_id",),
    columns=(
        Column("customer_id", "VARCHAR", True),
        Column("signup_at", "TIMESTAMP"),
        Column("signup_channel", "VARCHAR"),
        Column("region", "VARCHAR"),
        Column("home_store_id", "VARCHAR"),
        Column("birthday", "DATE"),
        Column("gender", "VARCHAR"),
        Column("account_type", "VARCHAR", False, "store_card, online or both."),
        Column("tier", "VARCHAR", False, "silver, gold or diamond."),
    ),
    rules=(
        Rule("missing_required", _missing("customer_id"), "customer_id is required"),
        Rule("unparsable_timestamp",
             "(signup_at IS NOT NULL AND try_cast(signup_at AS TIMESTAMP) IS NULL)"
             " OR (birthday IS NOT NULL AND try_cast(birthday AS DATE) IS NULL)",
             "signup_at/birthday does not parse"),
        Rule("unknown_channel", _in_set("signup_channel", CHANNELS), "signup_channel not a known channel"),
    ),
)

TRANSACTIONS = Table(
    name="transactions",
    description="Order lines from every channel; a negative quantity is a return.",
    key=("order_id", "line_number"),
    time_column="ordered_at",
    columns=(
        Column("order_id", "VARCHAR", True),
        Column("line_number", "INTEGER", True),
        Column("customer_id", "VARCHAR", False, "Empty for guests."),
        Column("sku", "VARCHAR", True),
        Column("quantity", "INTEGER", True, "Units; negative for a return."),
        Column("unit_price", "DOUBLE", True, "Price per unit actually charged before order-level discounts."),
        Column("ordered_at", "TIMESTAMP", True),
        Column("store_id", "VARCHAR", False, "Selling / fulfilling location; empty for online-only shops."),
        Column("channel", "VARCHAR"),
        Column("discount_amount", "DOUBLE", False,
               "Coupon discount on this line, same sign as quantity; net revenue = quantity * unit_price - discount."),
        Column("coupon_code", "VARCHAR"),
        Column("promotion_id", "VARCHAR"),
        Column("fulfillment", "VARCHAR", False, "in_store, delivery or pickup (BOPIS)."),
        Column("payment_method", "VARCHAR"),
        Column("original_order_id", "VARCHAR", False, "For a return: the order it returns."),
    ),
    rules=(
        Rule("missing_required", _missing("order_id", "line_number", "sku", "quantity", "unit_price", "ordered_at"),
             "a required field is empty"),
        Rule("unparsable_timestamp", _not_timestamp("ordered_at"), "ordered_at does not parse as a timestamp"),
        Rule("future_timestamp", _in_future("ordered_at"), "ordered_at is more than a day in the future"),
        Rule("bad_number",
             f"{_not_number('quantity')} OR {_not_number('unit_price')} OR {_not_number('line_number')}"
             f" OR {_not_number('discount_amount', optional=True)}"
             " OR try_cast(quantity AS DOUBLE) <> round(try_cast(quantity AS DOUBLE))",
             "quantity/line_number not an integer or price not a number"),
        Rule("impossible_quantity",
             f"try_cast(quantity AS DOUBLE) = 0 OR abs(try_cast(quantity AS DOUBLE)) > {_LINE_LIMIT}",
             f"quantity is 0 or beyond the line limit (SMARTMALL_MAX_LINE_QUANTITY, default {MAX_ABS_QUANTITY})"),
        Rule("price_out_of_range",
             f"try_cast(unit_price AS DOUBLE) < 0 OR try_cast(unit_price AS DOUBLE) > {MAX_UNIT_PRICE}"
             " OR sign(try_cast(discount_amount AS DOUBLE)) * sign(try_cast(quantity AS DOUBLE)) < 0"
             " OR abs(try_cast(discount_amount AS DOUBLE))"
             " > abs(try_cast(quantity AS DOUBLE) * try_cast(unit_price AS DOUBLE)) + 0.005",
             f"unit_price outside [0, {MAX_UNIT_PRICE:g}], or discount larger than the line or of the other sign"),
        Rule("unknown_channel", _in_set("channel", CHANNELS), "channel not a known channel"),
        Rule("unknown_fulfillment", _in_set("fulfillment", FULFILLMENTS), "fulfillment not in/delivery/pickup"),
        Rule("unknown_sku", _unknown_ref("sku", "products", "sku"), "sku not in the product catalogue"),
        Rule("unknown_store", _unknown_ref("store_id", "stores", "store_id"), "store_id not a known location"),
    ),
)

EVENTS = Table(
    name="events",
    description="Tracking events in the Segment e-commerce spec shape.",
    key=("event_id",),
    time_column="occurred_at",
    columns=(
        Column("event_id", "VARCHAR", True, "Segment messageId; unique."),
        Column("event", "VARCHAR", True, "Segment event name, e.g. 'Product Viewed'."),
        Column("occurred_at", "TIMESTAMP", True),
        Column("anonymous_id", "VARCHAR"),
        Column("user_id", "VARCHAR", False, "Member id once known."),
        Column("session_id", "VARCHAR"),
        Column("channel", "VARCHAR"),
        Column("device", "VARCHAR"),
        Column("sku", "VARCHAR"),
        Column("query", "VARCHAR", False, "Search text of Products Searched."),
        Column("list_id", "VARCHAR"),
        Column("order_id", "VARCHAR"),
        Column("revenue", "DOUBLE"),
        Column("coupon_code", "VARCHAR"),
        Column("promotion_id", "VARCHAR"),
    ),
    rules=(
        Rule("missing_required", _missing("event_id", "event", "occurred_at"), "event_id, event, occurred_at required"),
        Rule("missing_identity", "nullif(trim(anonymous_id), '') IS NULL AND nullif(trim(user_id), '') IS NULL",
             "neither anonymous_id nor user_id"),
        Rule("unparsable_timestamp", _not_timestamp("occurred_at"), "occurred_at does not parse as a timestamp"),
        Rule("future_timestamp", _in_future("occurred_at"), "occurred_at is more than a day in the future"),
        Rule("unknown_event", _in_set("event", EVENT_NAMES), "event name not in the Segment e-commerce spec"),
        Rule("unknown_channel", _in_set("channel", CHANNELS), "channel not a known channel"),
        Rule("bad_number", _not_number("revenue", optional=True), "revenue not a number"),
        Rule("unknown_sku", _unknown_ref("sku", "products", "sku"), "sku not in the product catalogue"),
    ),
)

IOT_READINGS = Table(
    name="iot_readings",
    description="Store sensors: entrance footfall counters, RFID shelf reads, smart-shelf stock, cold-chain temperature.",
    key=("reading_id",),
    time_column="read_at",
    columns=(
        Column("reading_id", "VARCHAR", True),
        Column("device_id", "VARCHAR", True),
        Column("kind", "VARCHAR", True, "footfall, rfid_read, shelf_stock or temperature."),
        Column("store_id", "VARCHAR", True),
        Column("sku", "VARCHAR", False, "For rfid_read and shelf_stock."),
        Column("value", "DOUBLE", True, "People counted, tags read, units on shelf, or degrees C."),
        Column("read_at", "TIMESTAMP", True),
    ),
    rules=(
        Rule("missing_required", _missing("reading_id", "device_id", "kind", "store_id", "value", "read_at"),
             "a required field is empty"),
        Rule("unparsable_timestamp", _not_timestamp("read_at"), "read_at does not parse as a timestamp"),
        Rule("unknown_kind", _in_set("kind", IOT_KINDS), "kind not a known sensor kind"),
        Rule("bad_number", _not_number("value"), "value not a number"),
        Rule("value_out_of_range",
             "(kind <> 'temperature' AND try_cast(value AS DOUBLE) < 0)"
             " OR (kind = 'temperature' AND abs(try_cast(value AS DOUBLE)) > 80)"
             " OR (kind = 'footfall' AND try_cast(value AS DOUBLE) > 100000)",
             "reading outside the sensor's physical range"),
        Rule("unknown_store", _unknown_ref("store_id", "stores", "store_id"), "store_id not a known location"),
        Rule("unknown_sku", _unknown_ref("sku", "products", "sku"), "sku not in the product catalogue"),
    ),
)

INVENTORY_MOVEMENTS = Table(
    name="inventory_movements",
    description="Stock ledger: receipts, transfers, sales, returns and count adjustments, signed quantities.",
    key=("movement_id",),
    time_column="moved_at",
    columns=(
        Column("movement_id", "VARCHAR", True),
        Column("location_id", "VARCHAR", True),
        Column("sku", "VARCHAR", True),
        Column("movement_type", "VARCHAR", True),
        Column("quantity", "INTEGER", True, "Signed: + into the location, - out of it."),
        Column("moved_at", "TIMESTAMP", True),
        Column("reference", "VARCHAR", False, "Purchase order, transfer or order id."),
    ),
    rules=(
        Rule("missing_required", _missing("movement_id", "location_id", "sku", "movement_type", "quantity", "moved_at"),
             "a required field is empty"),
        Rule("unparsable_timestamp", _not_timestamp("moved_at"), "moved_at does not parse as a timestamp"),
        Rule("bad_number", f"{_not_number('quantity')} OR try_cast(quantity AS DOUBLE) <> round(try_cast(quantity AS DOUBLE))",
             "quantity not an integer"),
        Rule("unknown_movement_type", _in_set("movement_type", MOVEMENT_TYPES), "movement_type not known"),
        Rule("impossible_quantity", f"abs(try_cast(quantity AS DOUBLE)) > 100 * {_LINE_LIMIT}",
             "quantity beyond 100x the line limit (SMARTMALL_MAX_LINE_QUANTITY)"),
        Rule("unknown_sku", _unknown_ref("sku", "products", "sku"), "sku not in the product catalogue"),
        Rule("unknown_store", _unknown_ref("location_id", "stores", "store_id"), "location_id not a known location"),
    ),
)

_QUANTITIES = ("on_hand", "reserved", "allocated")

STOCK_POSITIONS = Table(
    name="stock_positions",
    description="Snapshot of committed stock from the commerce API (``smartmall api export-stock``): per SKU "
                "x location, units held by live checkout reservations and allocated to paid, unshipped orders.",
    key=("location_id", "sku"),
    columns=(
        Column("location_id", "VARCHAR", True),
        Column("sku", "VARCHAR", True),
        Column("on_hand", "INTEGER", False, "Units on hand in the commerce API's books."),
        Column("reserved", "INTEGER", True, "Units held by live (unexpired) checkout reservations."),
        Column("allocated", "INTEGER", True, "Units allocated to paid orders not yet shipped or collected."),
        Column("as_of", "TIMESTAMP", True, "When the snapshot was taken (UTC)."),
    ),
    rules=(
        Rule("missing_required", _missing("location_id", "sku", "reserved", "allocated", "as_of"),
             "a required field is empty"),
        Rule("unparsable_timestamp", _not_timestamp("as_of"), "as_of does not parse as a timestamp"),
        Rule("bad_number", " OR ".join(
            f"{_not_number(c, optional=c == 'on_hand')} OR try_cast({c} AS DOUBLE) <> round(try_cast({c} AS DOUBLE))"
            for c in _QUANTITIES), "a quantity is not an integer"),
        Rule("impossible_quantity", " OR ".join(
            f"try_cast({c} AS DOUBLE) < 0 OR try_cast({c} AS DOUBLE) > 100 * {_LINE_LIMIT}" for c in _QUANTITIES),
            "a quantity is negative or beyond 100x the line limit (SMARTMALL_MAX_LINE_QUANTITY)"),
        Rule("unknown_sku", _unknown_ref("sku", "products", "sku"), "sku not in the product catalogue"),
        Rule("unknown_store", _unknown_ref("location_id", "stores", "store_id"), "location_id not a known location"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (STORES, PRODUCTS, CUSTOMERS, STOCK_POSITIONS, TRANSACTIONS, EVENTS, IOT_READINGS,
                        INVENTORY_MOVEMENTS)
}
REFERENCE_TABLES: tuple[str, ...] = ("stores", "products", "customers", "stock_positions")
DAILY_TABLES: tuple[str, ...] = ("transactions", "events", "iot_readings", "inventory_movements")

# Value domains of accepted records, checked again by the great-expectations suite of each batch.
ALLOWED_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "stores": {"kind": LOCATION_KINDS},
    "customers": {"signup_channel": CHANNELS},
    "transactions": {"channel": CHANNELS, "fulfillment": FULFILLMENTS},
    "events": {"event": EVENT_NAMES, "channel": CHANNELS},
    "iot_readings": {"kind": IOT_KINDS},
    "inventory_movements": {"movement_type": MOVEMENT_TYPES},
}
def value_ranges(max_line_quantity: int = MAX_ABS_QUANTITY) -> dict[str, dict[str, tuple[float, float]]]:
    """(low, high) of the numeric columns of accepted records per table, for a given line limit."""
    return {
        "products": {"price": (0, MAX_UNIT_PRICE)},
        "transactions": {"quantity": (-max_line_quantity, max_line_quantity), "unit_price": (0, MAX_UNIT_PRICE)},
        "iot_readings": {"value": (-80, 100_000)},
        "inventory_movements": {"quantity": (-max_line_quantity * 100, max_line_quantity * 100)},
        "stock_positions": {c: (0, max_line_quantity * 100) for c in _QUANTITIES},
    }
