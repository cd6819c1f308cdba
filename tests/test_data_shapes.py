"""Any retailer's data: ``smartmall import folder`` + ``smartmall run`` on shapes of data we did not
generate (real datasets with columns dropped, aggregated or rewritten; see tests/data_shapes.py).

Each shape must run to exit code 0 with every mart present: built where the data allows it, and
otherwise empty with the same columns as a full run's, its skip reported with what would enable it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.dbt_manifest import queryable_marts
from serving.registry import Registry
from tests import data_shapes
from tests.helpers import query, run_cli

MARTS = queryable_marts()


def _columns(home, mart: str) -> list[tuple[str, str]]:
    return query(home, "SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position", [mart])


@pytest.fixture(scope="module")
def full_columns(small_home) -> dict[str, list[tuple[str, str]]]:
    """Every mart's columns in the full synthetic run (the demo), where nothing is skipped."""
    return {mart: _columns(small_home, mart) for mart in MARTS}


# a shape's own settings: buyers of weekly aggregates plan a quarter ahead, and a week of fuel is many
# litres a line
SHAPE_ENV = {"weekly_aggregates": {"SMARTMALL_FORECAST_HORIZON_WEEKS": "13", "SMARTMALL_MAX_LINE_QUANTITY": "1000000"}}


def _run_shape(name: str, root, small_landing) -> tuple:
    folder = data_shapes.build(name, root / name / "mine", small_landing)
    home = root / name / "home"
    env = SHAPE_ENV.get(name, {})
    run_cli(home, "import", "folder", "--path", str(folder), env=env)
    proc = run_cli(home, "run", check=False, env=env)
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return home, proc.stdout


@pytest.fixture(scope="module")
def shape_runs(request, tmp_path_factory, small_landing) -> dict:
    """Every selected shape imported and run, two at a time (one pipeline leaves one of this
    machine's two cores idle much of the time): {shape: (home, stdout) or the error}."""
    wanted = sorted({item.callspec.params["shape"] for item in request.session.items
                     if getattr(item, "originalname", "") == "test_every_shape_runs_to_the_end"})
    root = tmp_path_factory.mktemp("shapes")

    def run(name: str):
        try:
            return _run_shape(name, root, small_landing)
        except AssertionError as exc:  # reported by that shape's test, not the others'
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(wanted, pool.map(run, wanted), strict=True))


def _skips(stdout: str) -> dict[str, str]:
    """The run summary's 'Skipped by design' lines: {mart: message}."""
    if "Skipped by design" not in stdout:
        return {}
    block = stdout.split("Skipped by design", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return {line.split()[0]: line for line in block if line.startswith("  ")}


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(data_shapes.SHAPES))
def test_every_shape_runs_to_the_end(shape, shape_runs, full_columns):
    outcome = shape_runs[shape]
    if isinstance(outcome, AssertionError):
        raise outcome
    home, stdout = outcome
    skips = _skips(stdout)
    for mart in MARTS:
        assert _columns(home, mart) == full_columns[mart], f"{shape}: marts.{mart} missing or its columns drifted"
        rows = query(home, f"SELECT count(*) FROM marts.{mart}")[0][0]
        if mart in skips:
            assert rows == 0 and "needs " in skips[mart], (shape, mart, skips[mart])
    # what each shape can and cannot build
    count = {m: query(home, f"SELECT count(*) FROM marts.{m}")[0][0] for m in MARTS}
    assert count["fct_sales_daily"] > 0 and count["fct_order_lines"] > 0
    if shape == "guests_only":
        for mart in ("customer_rfm", "customer_value", "customer_churn_risk", "customer_recommendations",
                     "coupon_recommendations"):
            assert mart in skips and "customer id" in skips[mart]
        assert count["forecasts"] > 0 and count["association_rules"] > 0
    if shape in ("transactions_only", "guests_only", "weekly_aggregates", "odd_values_and_ids"):
        assert "replenishment_suggestions" in skips and "inventory_movements" in skips["replenishment_suggestions"]
    if shape in ("transactions_only", "odd_values_and_ids"):
        assert count["customer_churn_risk"] > 0 and count["customer_recommendations"] > 0
    if shape == "weekly_aggregates":
        assert query(home, "SELECT count(DISTINCT week_start) FROM marts.forecasts")[0][0] == 13
        assert query(home, "SELECT count(*) FROM raw.quarantine")[0][0] == 0
        assert query(home, "SELECT max(quantity) FROM raw.transactions")[0][0] > 10_000
        _check_weekly_intervals(home)
    if shape == "odd_values_and_ids":
        # zero-value orders are purchases: the customer whose only orders were free is scored like any other
        scored = query(home, "SELECT churn_probability, f.frequency FROM marts.customer_churn_risk c "
                             "JOIN marts.customer_rfm f USING (customer_id) WHERE customer_id = '会员/仅赠品' "
                             "AND f.as_of = (SELECT max(as_of) FROM marts.customer_rfm)")
        assert len(scored) == 1 and 0 <= scored[0][0] <= 1 and scored[0][1] == 2
        assert query(home, "SELECT count(*) FROM marts.dim_product WHERE sku LIKE 'SKU-货号-%'")[0][0] > 1000
    if shape == "single_store_single_day":
        assert count["dim_store"] == 1 and "forecasts" in skips


def _check_weekly_intervals(home) -> None:
    """Weekly aggregates (quantities in the thousands): intervals a buyer can use."""
    ratio, worst = query(home, """
        WITH h AS (SELECT sku, store_id AS location_id, max(units) AS peak
                   FROM (SELECT sku, store_id, date_trunc('week', sale_date) AS w, sum(units_sold) AS units
                         FROM marts.fct_sales_daily GROUP BY ALL) GROUP BY ALL)
        SELECT median(upper_units / nullif(forecast_units, 0)), max(upper_95_units / greatest(peak, 1))
        FROM marts.forecasts f JOIN h USING (sku, location_id)""")[0]
    assert ratio < 5, f"median upper bound {ratio:.1f}x the point forecast"
    assert worst <= 3.0 + 1e-9, f"an upper bound {worst:.1f}x the series' largest week"
    # calibrated on the backtest: the class that holds almost every series within 5 points of nominal
    card = Registry(home / "registry").current("forecast").card
    intermittent = card["intervals"]["coverage"][f"{card['model_per_demand_class']['intermittent']}/intermittent"]
    assert intermittent["out_of_time"] and intermittent["within_5_points"], intermittent
    assert query(home, "SELECT count(*) FROM marts.forecasts WHERE lower_95_units > lower_units + 1e-9 "
                       "OR upper_95_units < upper_units - 1e-9 OR lower_units > forecast_units + 1e-9 "
                       "OR upper_units < forecast_units - 1e-9")[0][0] == 0
