"""Replenishment suggestions and stock alerts from the marts and the forecasts.

Writes ``model_outputs.replenishment_suggestions`` (per SKU x location: safety stock, reorder
point, order-up-to level, position, suggested quantity, source and the reason),
``model_outputs.transfer_suggestions`` and ``model_outputs.stock_alerts`` (dbt publishes them as
the marts of those names; inventory health is a dbt model of its own), and backtests the policy
against "reorder last week's sales".

Demand of a warehouse is its own sales plus the demand of every location it replenishes (the
central -> regional -> store tree of ``dim_store``). Lead times between our own locations are
measured from the ledger (transfer out to transfer in of the same reference and SKU); purchases
from suppliers use ``SMARTMALL_SUPPLIER_LEAD_DAYS`` (default 14). In-transit stock is what left a
warehouse and has not arrived yet; the ledger names the destination only on arrival, so it is
shared among the warehouse's locations in proportion to their forecast demand (an estimate).
Stock already promised lives in the commerce API (live checkout reservations, paid orders not yet
shipped); its latest export (``raw.stock_positions``, see ``smartmall api export-stock``) is
subtracted: position = on hand + in transit - committed. Before any export, committed is 0.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from models.errors import NotEnoughData
from models.inventory_policy import Policy, order_quantity, simulate, targets
from pipelines.marts import write_empty, write_mart
from serving.registry import Registry

Z80 = 1.2816  # the forecasts' 80 % interval (lower_units, upper_units) spans +-1.28 sigma
OVERSTOCK_DAYS = 90
STOCKOUT_DATE_DAYS = 3650  # a projected stock-out further out than this is left empty


def planning_frame(con: duckdb.DuckDBPyConnection, supplier_lead_days: float) -> pl.DataFrame:
    """Per SKU x location: on hand today, subtree demand (daily mean, weekly sigma), in transit,
    committed (reserved + allocated in the commerce API's latest export), lead time."""
    return con.sql(f"""
        WITH last_day AS (SELECT max(stock_date) AS d FROM marts.fct_inventory_daily),
        stock AS (SELECT sku, location_id, on_hand FROM marts.fct_inventory_daily, last_day WHERE stock_date = d),
        own AS (SELECT sku, location_id, avg(forecast_units) / 7.0 AS daily_mean,
                       avg((upper_units - lower_units) / (2 * {Z80})) AS weekly_sigma
                FROM model_outputs.forecasts GROUP BY ALL),
        tree AS (  -- every location with each location whose stock it replenishes (itself included)
            SELECT store_id AS location_id, store_id AS served FROM marts.dim_store
            UNION SELECT regional_warehouse_id, store_id FROM marts.dim_store
                  WHERE regional_warehouse_id IS NOT NULL AND regional_warehouse_id <> store_id
            UNION SELECT central_warehouse_id, store_id FROM marts.dim_store
                  WHERE central_warehouse_id IS NOT NULL AND central_warehouse_id <> store_id),
        demand AS (
            SELECT o.sku, t.location_id, sum(o.daily_mean) AS daily_mean, sqrt(sum(o.weekly_sigma ^ 2)) AS weekly_sigma,
                   sum(o.daily_mean) FILTER (WHERE t.served = t.location_id) AS own_daily_mean
            FROM own o JOIN tree t ON t.served = o.location_id GROUP BY ALL),
        moves AS (SELECT * FROM staging.stg_inventory_movements WHERE movement_type IN ('transfer_out', 'transfer_in')),
        unmatched AS (  -- sent, not yet received, per source, SKU and transfer
            SELECT o.location_id AS source_id, o.sku, o.reference, -sum(o.quantity) - coalesce(any_value(i.qty), 0) AS qty
            FROM moves o LEFT JOIN (SELECT reference, sku, sum(quantity) AS qty FROM moves
                                    WHERE movement_type = 'transfer_in' GROUP BY ALL) i USING (reference, sku)
            WHERE o.movement_type = 'transfer_out' GROUP BY o.location_id, o.sku, o.reference HAVING qty > 0),
        in_transit AS (
            SELECT sku, location_id, sum(qty * share) AS in_transit FROM (
                SELECT u.sku, s.store_id AS location_id, u.qty,
                       d.daily_mean / nullif(sum(d.daily_mean) OVER (PARTITION BY u.source_id, u.sku, u.reference), 0)
                       AS share
                FROM unmatched u JOIN marts.dim_store s ON s.parent_id = u.source_id AND s.store_id <> u.source_id
                JOIN demand d ON d.sku = u.sku AND d.location_id = s.store_id)
            GROUP BY ALL),
        committed AS (SELECT sku, location_id, sum(committed) AS committed FROM staging.stg_stock_positions GROUP BY ALL),
        lead AS (  -- measured transfer lead time into each location
            SELECT i.location_id, avg(date_diff('hour', o.t, i.t)) / 24.0 AS lead_days
            FROM (SELECT reference, sku, min(moved_at) AS t FROM moves WHERE movement_type = 'transfer_out' GROUP BY ALL) o
            JOIN (SELECT reference, sku, location_id, min(moved_at) AS t FROM moves WHERE movement_type = 'transfer_in'
                  GROUP BY ALL) i USING (reference, sku) GROUP BY ALL)
        SELECT d.sku, d.location_id, ls.location_kind, ls.parent_id, ls.region, p.category,
               coalesce(s.on_hand, 0)::DOUBLE AS on_hand, coalesce(t.in_transit, 0)::DOUBLE AS in_transit,
               coalesce(c.committed, 0)::DOUBLE AS committed,
               d.daily_mean, coalesce(d.own_daily_mean, 0) AS own_daily_mean, d.weekly_sigma,
               CASE WHEN ls.location_kind = 'central_warehouse' OR ls.parent_id IS NULL OR ls.parent_id = d.location_id
                    THEN {float(supplier_lead_days)} ELSE coalesce(l.lead_days, 2.0) END AS lead_days,
               (SELECT d FROM last_day) AS as_of
        FROM demand d
        JOIN marts.dim_store ls ON ls.store_id = d.location_id
        LEFT JOIN marts.dim_product p USING (sku)
        LEFT JOIN stock s USING (sku, location_id)
        LEFT JOIN in_transit t USING (sku, location_id)
        LEFT JOIN committed c USING (sku, location_id)
        LEFT JOIN lead l USING (location_id)
        ORDER BY d.sku, d.location_id""").pl()


def suggestions(plan: pl.DataFrame, service_level: float = 0.95) -> pl.DataFrame:
    """Targets, order quantities, sources and reasons; then store-to-store transfers for shortages
    that a sibling store's excess can cover."""
    lead = plan["lead_days"].to_numpy()
    mean, sigma = plan["daily_mean"].to_numpy(), plan["weekly_sigma"].fill_null(0).to_numpy()
    t = {k: np.zeros(len(plan)) for k in ("safety_stock", "reorder_point", "order_up_to")}
    for value in np.unique(lead):  # one policy per lead time
        mask = lead == value
        for k, v in targets(mean[mask], sigma[mask], Policy(lead_days=float(value), service_level=service_level)).items():
            t[k][mask] = v
    position = plan["on_hand"].to_numpy() + plan["in_transit"].to_numpy() - plan["committed"].to_numpy()
    qty = order_quantity(position, t["reorder_point"], t["order_up_to"])
    out = plan.with_columns(
        safety_stock=pl.Series(t["safety_stock"]).round(2), reorder_point=pl.Series(t["reorder_point"]).round(2),
        order_up_to=pl.Series(t["order_up_to"]).round(2), position=pl.Series(position),
        suggested_quantity=pl.Series(qty),
    ).with_columns(
        action=pl.when(pl.col("suggested_quantity") <= 0).then(pl.lit("none"))
        .when(pl.col("location_kind") == "central_warehouse").then(pl.lit("purchase"))
        .when(pl.col("parent_id").is_null() | (pl.col("parent_id") == pl.col("location_id"))).then(pl.lit("purchase"))
        .otherwise(pl.lit("transfer")),
        source_id=pl.when(pl.col("location_kind") == "central_warehouse").then(pl.lit("supplier"))
        .otherwise(pl.col("parent_id")),
        available=(pl.col("on_hand") - pl.col("committed")).clip(0, None),
    ).with_columns(
        days_of_cover=pl.when(pl.col("daily_mean") > 0).then(pl.col("available") / pl.col("daily_mean")),
    ).with_columns(
        reason=pl.when(pl.col("suggested_quantity") > 0).then(pl.format(
            "position {} (on hand {} + in transit {} - committed {}) <= reorder point {}: order up to {} ({} d lead "
            "time + 7 d review at {}/day + safety stock {})", pl.col("position").round(1), pl.col("on_hand"),
            pl.col("in_transit").round(1), pl.col("committed"),
            pl.col("reorder_point"), pl.col("order_up_to"), pl.col("lead_days").round(1),
            pl.col("daily_mean").round(2), pl.col("safety_stock")))
        .otherwise(pl.format("position {} above reorder point {}", pl.col("position").round(1),
                             pl.col("reorder_point"))),
    )
    return out.sort("sku", "location_id")


def store_transfers(plan: pl.DataFrame) -> pl.DataFrame:
    """Shortages at a store covered by a sibling store (same parent) holding stock beyond its order-up-to
    level: move the smaller of the two, once per short store."""
    stores = plan.filter(pl.col("location_kind") == "store")
    short = stores.filter(pl.col("suggested_quantity") > 0)
    excess = stores.with_columns(spare=(pl.col("available") - pl.col("order_up_to")).floor()).filter(pl.col("spare") > 0)
    pairs = short.join(excess.select("sku", "parent_id", pl.col("location_id").alias("from_location_id"), "spare"),
                       on=["sku", "parent_id"]).filter(pl.col("from_location_id") != pl.col("location_id"))
    best = pairs.sort("spare", descending=True).unique(["sku", "location_id"], keep="first", maintain_order=True)
    return best.select(
        "sku", "from_location_id", pl.col("location_id").alias("to_location_id"),
        quantity=pl.min_horizontal("suggested_quantity", "spare"),
        reason=pl.format("{} is short ({} to order); {} holds {} above its order-up-to level",
                         pl.col("location_id"), pl.col("suggested_quantity"), pl.col("from_location_id"),
                         pl.col("spare")),
    ).sort("sku", "to_location_id")


def build_replenishment(con: duckdb.DuckDBPyConnection, registry: Registry, supplier_lead_days: float) -> dict:
    if con.execute("SELECT count(*) FROM marts.fct_inventory_daily").fetchall()[0][0] == 0:
        raise NotEnoughData("no stock history: on hand is unknown, so there is nothing to replenish against",
                            "inventory_movements (the stock ledger: receipts, transfers, sales, returns)")
    plan = planning_frame(con, supplier_lead_days)
    if plan.is_empty():
        raise NotEnoughData("no forecast joins the stock ledger: nothing to plan",
                            "demand forecasts (about 12 weeks of sales) for the SKUs held in stock")
    table = suggestions(plan)
    transfers = store_transfers(table)
    write_mart(con, "replenishment_suggestions", table)
    write_mart(con, "transfer_suggestions", transfers)
    alerts = table.filter(pl.col("daily_mean") > 0).select(
        "sku", "location_id", "on_hand", "committed", "available", "safety_stock", "days_of_cover",
        below_safety_stock=pl.col("available") < pl.col("safety_stock"),
        # beyond ten years a date says nothing (and leaves ClickHouse's date range): none
        projected_stockout_date=pl.when(pl.col("days_of_cover") <= STOCKOUT_DATE_DAYS).then(
            pl.col("as_of") + pl.duration(days=pl.col("days_of_cover").floor().cast(pl.Int64))),
        overstock=pl.col("days_of_cover") > OVERSTOCK_DAYS,
    ).filter(pl.col("below_safety_stock") | pl.col("overstock") | (pl.col("days_of_cover") < 14))
    write_mart(con, "stock_alerts", alerts)
    policy = backtest_policy(con)
    if "skipped" not in policy:  # a plan without a long enough store history is served, not scored
        registry.register("replenishment_policy", {"backtest": policy, "baseline": "reorder last week's sales",
                                                   "parameters": {"service_level": 0.95, "review_days": 7}},
                          passed=policy["order_up_to"]["fill_rate"] >= policy["last_week"]["fill_rate"])
    return {"suggestion_rows": len(table), "to_order": int((table["suggested_quantity"] > 0).sum()),
            "store_transfers": len(transfers), "alerts": len(alerts), "policy_backtest": policy}


def backtest_policy(con: duckdb.DuckDBPyConnection, days: int = 56, lead_days: float = 2.0) -> dict:
    """Replay the last ``days`` of store sales against both policies from the stock the stores held then."""
    frame = con.sql(f"""
        WITH last_day AS (SELECT max(stock_date) AS d FROM marts.fct_inventory_daily)
        SELECT i.sku, i.location_id, i.stock_date, i.sold::DOUBLE AS sold, i.on_hand::DOUBLE AS on_hand
        FROM marts.fct_inventory_daily i JOIN marts.dim_store s ON s.store_id = i.location_id, last_day
        WHERE s.location_kind = 'store' AND i.stock_date > d - INTERVAL {days + 56} DAY
        ORDER BY i.sku, i.location_id, i.stock_date""").pl()
    if frame.is_empty():
        return {"skipped": "no store stock history", "needs": "inventory_movements at locations of kind 'store'"}
    dates = sorted(frame["stock_date"].unique().to_list())
    columns = [str(d) for d in dates]  # in date order, whatever order the pivot met them in

    def wide(value: str) -> np.ndarray:
        return frame.pivot(on="stock_date", index=["sku", "location_id"], values=value).sort("sku", "location_id") \
            .select(columns).fill_null(0).to_numpy()

    sold, stock = wide("sold"), wide("on_hand")
    if sold.shape[1] < days + 14:
        return {"skipped": f"{sold.shape[1]} days of store history; {days + 14} needed",
                "needs": f"at least {days + 14} days of store stock history"}
    history, demand = sold[:, :-days], sold[:, -days:]
    start = stock[:, -days - 1]
    policy = Policy(lead_days=lead_days)
    out = {}
    for rule in ("order_up_to", "last_week"):
        r = simulate(demand, start, policy, rule, history)
        out[rule] = {"fill_rate": round(r.fill_rate, 4), "average_inventory": round(r.average_inventory, 3),
                     "lost_units": round(r.lost_units, 1), "orders": r.orders}
    out["series"], out["days"], out["lead_days"] = int(demand.shape[0]), days, lead_days
    return out


OUTPUTS = ("replenishment_suggestions", "transfer_suggestions", "stock_alerts")


def build_replenishment_or_skip(con: duckdb.DuckDBPyConnection, registry: Registry,
                                supplier_lead_days: float) -> dict:
    try:
        return build_replenishment(con, registry, supplier_lead_days)
    except NotEnoughData as exc:  # no stock or no forecast: no plan (dbt still reports the stock's health)
        write_empty(con, OUTPUTS)
        return exc.as_skip()
