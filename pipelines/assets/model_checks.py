"""Asset checks on the tables the Python models write (``model_outputs``), for what dbt cannot see:
scores within their ranges, intervals in order, one row per key (blocking: a model run that breaks
them is not published as a mart, nor reaches the snapshot readers are served), and the row count
against the last run (a warning: a big swing is worth a look, not always wrong)."""


import dagster as dg

from pipelines.assets.outputs import output_key
from pipelines.marts import OUTPUT_SCHEMA, output_rows
from pipelines.warehouse import Warehouse

# mart -> (SQL true for a bad row, what holds for a good one)
VALUE_RULES: dict[str, tuple[str, str]] = {
    "customer_churn_risk": ("churn_probability IS NULL OR churn_probability NOT BETWEEN 0 AND 1",
                            "churn probability within [0, 1]"),
    "customer_value": ("NOT isfinite(clv_365d) OR clv_90d < 0 OR p_alive NOT BETWEEN 0 AND 1 "
                       "OR clv_90d > clv_180d + 1e-6 OR clv_180d > clv_365d + 1e-6",
                       "CLV finite, >= 0 and growing with the horizon; P(alive) within [0, 1]"),
    "coupon_recommendations": ("p_redeem IS NULL OR p_redeem NOT BETWEEN 0 AND 1", "P(redeem) within [0, 1]"),
    "customer_recommendations": ("sku IS NULL OR rank < 1", "a SKU at every rank from 1"),
    "association_rules": ("support NOT BETWEEN 0 AND 1 OR confidence NOT BETWEEN 0 AND 1 OR lift <= 0",
                          "support and confidence within [0, 1], lift > 0"),
    "forecasts": ("NOT isfinite(forecast_units) OR lower_95_units < 0 OR lower_95_units > lower_units + 1e-9 "
                  "OR lower_units > forecast_units + 1e-9 OR upper_units < forecast_units - 1e-9 "
                  "OR upper_95_units < upper_units - 1e-9",
                  "finite, 0 <= lower 95 % <= lower 80 % <= forecast <= upper 80 % <= upper 95 %"),
    "replenishment_suggestions": ("NOT isfinite(suggested_quantity) OR suggested_quantity < 0 "
                                  "OR order_up_to < reorder_point - 1e-9",
                                  "suggested quantity finite and >= 0, order-up-to >= reorder point"),
}
KEYS: dict[str, tuple[str, ...]] = {
    "customer_churn_risk": ("customer_id",), "customer_value": ("customer_id",),
    "coupon_recommendations": ("customer_id",), "customer_recommendations": ("customer_id", "variant", "rank"),
    "forecasts": ("sku", "location_id", "week_start"), "replenishment_suggestions": ("sku", "location_id"),
}
ROW_SWING = 0.5  # a share of rows gained or lost since the last run that is worth a warning


def _values_check(mart: str) -> dg.AssetChecksDefinition:
    bad, holds = VALUE_RULES[mart]
    key = KEYS.get(mart)

    @dg.asset_check(asset=output_key(mart), name="values_in_range", blocking=True,
                    description=f"{holds}" + (f"; one row per ({', '.join(key)})" if key else ""))
    def check(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.session(reads=[f"{OUTPUT_SCHEMA}.{mart}"]) as con:
            rows, broken = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {bad}) FROM {OUTPUT_SCHEMA}.{mart}").fetchone()
            repeated = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {OUTPUT_SCHEMA}.{mart} GROUP BY {', '.join(key)} "
                                   "HAVING count(*) > 1)").fetchone()[0] if key else 0
        problems = ([f"{broken} rows break: {holds}"] if broken else []) + \
            ([f"{repeated} keys ({', '.join(key)}) on more than one row"] if repeated else [])
        return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
                                   description="; ".join(problems) or None,
                                   metadata={"rows": rows, "rows_out_of_range": broken, "repeated_keys": repeated})

    return check


def _row_count_check(mart: str) -> dg.AssetChecksDefinition:
    asset = output_key(mart)

    @dg.asset_check(asset=asset, name="rows_against_last_run",
                    description=f"rows within +-{ROW_SWING:.0%} of the previous materialization's")
    def check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.session(reads=[f"{OUTPUT_SCHEMA}.{mart}"]) as con:
            rows = output_rows(con, mart)
        # the newest materialization is this run's; the one before is the last run's
        records = context.instance.fetch_materializations(asset, limit=2).records
        previous = records[1].asset_materialization.metadata.get("rows") if len(records) > 1 else None
        before = int(previous.value) if previous is not None else None
        swing = abs(rows - before) / before if before else 0.0
        return dg.AssetCheckResult(
            passed=before is None or (before == 0 and rows == 0) or (before > 0 and swing <= ROW_SWING),
            severity=dg.AssetCheckSeverity.WARN,
            description=None if before is None else f"{before:,} rows last run, {rows:,} now",
            metadata={"rows": rows, "rows_last_run": before if before is not None else "none"})

    return check


def build_model_checks() -> list[dg.AssetChecksDefinition]:
    """The checks of the Python models' outputs."""
    return [_values_check(m) for m in VALUE_RULES] + [_row_count_check(m) for m in VALUE_RULES]
