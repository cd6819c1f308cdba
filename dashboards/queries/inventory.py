"""Inventory and replenishment: slow movers, stock-outs, safety-stock alerts and the suggestions."""

from __future__ import annotations

import polars as pl

from dashboards.filters import Filters
from dashboards.snapshot import Marts


def _where(f: Filters, location: str = "location_id", region: str | None = "region") -> tuple[str, list]:
    parts, params = ["TRUE"], []
    if f.store:
        parts.append(f"{location} = ?")
        params.append(f.store)
    if f.region and region:
        parts.append(f"{region} = ?")
        params.append(f.region)
    return " AND ".join(parts), params


def health(src: Marts, f: Filters) -> pl.DataFrame:
    """Per SKU x location: on hand, sold in 90 days, stock-out days, turnover and cover days, slow flag."""
    where, params = _where(f)
    return src.query(f"""SELECT sku, location_id, region, category, on_hand::BIGINT AS on_hand, sold_90d::BIGINT AS sold_90d,
                                stockout_days_90d, turnover_days, days_of_cover, slow_moving, last_sale_date
                         FROM marts.inventory_health WHERE {where}
                         ORDER BY slow_moving DESC, days_of_cover DESC NULLS FIRST""", params)


def alerts(src: Marts, f: Filters) -> pl.DataFrame:
    """Stock below safety stock or running out before the next delivery, most urgent first."""
    where, params = _where(f, region=None)
    return src.query(f"""SELECT sku, location_id, available, safety_stock, days_of_cover, projected_stockout_date,
                                below_safety_stock, overstock
                         FROM marts.stock_alerts WHERE {where} AND (below_safety_stock OR projected_stockout_date IS NOT NULL)
                         ORDER BY projected_stockout_date NULLS LAST, days_of_cover""", params)


def replenishment(src: Marts, f: Filters) -> pl.DataFrame:
    """What to order or move where, and why (only the lines that suggest a quantity)."""
    where, params = _where(f)
    return src.query(f"""SELECT sku, location_id, location_kind, region, category, action, suggested_quantity,
                                source_id, on_hand, in_transit, committed, safety_stock, reorder_point, order_up_to,
                                days_of_cover, reason
                         FROM marts.replenishment_suggestions WHERE {where} AND suggested_quantity > 0
                         ORDER BY location_id, sku""", params)


def transfers(src: Marts, f: Filters) -> pl.DataFrame:
    where, params = ("TRUE", []) if not f.store else ("(from_location_id = ? OR to_location_id = ?)", [f.store, f.store])
    return src.query(f"SELECT * FROM marts.transfer_suggestions WHERE {where} ORDER BY quantity DESC", params)
