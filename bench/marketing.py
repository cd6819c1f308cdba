"""Marketing at scale (not a test), on PostgreSQL, in one run.

    python bench/marketing.py [--members 100000] [--seconds 10] [--clients 50] [--workers 2]

1. Coupons to an audience: ``--members`` members are written straight to the database; a coupon
   campaign with a 10 % control group is launched over HTTP with the uploaded list of their ids
   (``POST /campaigns/{id}/launch``: validate the list, check every id exists, draw the groups, write
   the members, issue the coupons with one ``INSERT ... SELECT``). Target: <= 10 s.
2. Checkout with every discount: ``api_load``'s catalogue and shoppers; half of the shoppers are gold
   (5 % off) with a large points balance and a code coupon that stacks. ``wrk`` drives ``POST /orders``
   alternately as plain members (no discount) and as gold members redeeming a coupon and 10 points,
   each twice, at ``--clients`` connections against ``--workers`` API workers. Target: discounted
   checkouts/s >= 0.7x plain checkouts/s.
Writes ``bench/results/marketing.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
from api_load import N_SHOPPERS, N_SKUS, _admin_url, _drop_db, _fresh_db, _seed, _serve, _wrk  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from commerce_api.app import build_services  # noqa: E402
from commerce_api.auth import create_key  # noqa: E402
from commerce_api.clock import utcnow  # noqa: E402
from commerce_api.db import transaction  # noqa: E402
from commerce_api.schema import CouponDefinition, Customer, PointsEntry  # noqa: E402
from data.settings import Settings  # noqa: E402

ISSUE_TARGET_S = 10.0
CHECKOUT_TARGET = 0.7
DB = "smartmall_bench_marketing"

CHECKOUT_LUA = """
local keys = {%s}
local extra = '%s'
math.randomseed(os.time())
request = function()
  local sku = string.format("SKU%%04d", math.random(0, %d))
  local body = '{"channel":"app","lines":[{"sku":"' .. sku .. '","quantity":1}]' .. extra .. '}'
  local headers = {["Authorization"] = "Bearer " .. keys[math.random(#keys)],
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/orders", headers, body)
end
"""


def _members(url: str, n: int) -> tuple[list[str], str]:
    svc = build_services(Settings(commerce_database_url=url), migrate=False)
    now = utcnow()
    ids = [f"AUD{i:07d}" for i in range(n)]
    with transaction(svc.sessions) as s:
        for start in range(0, n, 20_000):
            s.execute(insert(Customer), [{"id": cid, "member_code": f"MC{cid}", "region": "east", "tier": "member",
                                          "points": 0, "stored_value": 0, "created_at": now, "updated_at": now}
                                         for cid in ids[start:start + 20_000]])
        marketer = create_key(s, "marketer")
    svc.sessions.kw["bind"].dispose()
    return ids, marketer


def _discounts_for_half(url: str, keys: list[str]) -> None:
    """Shoppers B<even> become gold with a million points; a stacking 5 % code coupon for everyone."""
    svc = build_services(Settings(commerce_database_url=url), migrate=False)
    now = utcnow()
    gold = [f"B{i:04d}" for i in range(0, N_SHOPPERS, 2)]
    with transaction(svc.sessions) as s:
        s.execute(update(Customer).where(Customer.id.in_(gold)).values(tier="gold", points=10**6, tier_since=now))
        s.execute(insert(PointsEntry), [{"customer_id": c, "delta": 10**6, "kind": "behaviour", "reference": "bench",
                                         "remaining": 10**6, "available_at": now,
                                         "expires_at": now + timedelta(days=365), "created_at": now} for c in gold])
        s.add(CouponDefinition(code="BENCH5", name="bench 5 %", rule={"kind": "percent_off", "value": 5},
                               starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1), used=0,
                               usage_limit=None, per_customer_limit=None, stacks_with_campaigns=True, created_at=now))
    svc.sessions.kw["bind"].dispose()


def _issue(base: str, marketer: str, ids: list[str]) -> dict:
    h = {"Authorization": f"Bearer {marketer}"}
    now = utcnow()
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=14)).isoformat()}
    with httpx.Client(base_url=base, headers=h, timeout=300) as client:
        definition = client.post("/coupon-definitions", json={
            "name": "win back 20", **window, "rule": {"kind": "amount_off", "value": 2000}}).json()
        campaign = client.post("/campaigns", json={
            "name": "win back", "kind": "coupon", "coupon_definition_id": definition["id"], **window,
            "audience": {"uploaded_list": True}, "control_percent": 10}).json()
        started = time.perf_counter()
        r = client.post(f"/campaigns/{campaign['id']}/launch", json={"members": ids})
        seconds = time.perf_counter() - started
    r.raise_for_status()
    out = r.json()
    return {"members": len(ids), "seconds": round(seconds, 2), "treatment": out["treatment"],
            "control": out["control"], "coupons_issued": out["coupons_issued"],
            "target_s": ISSUE_TARGET_S, "met": seconds <= ISSUE_TARGET_S and out["coupons_issued"] == out["treatment"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    admin = _admin_url()
    url = _fresh_db(admin, DB)
    try:
        keys, _, _ = _seed(url)
        ids, marketer = _members(url, args.members)
        _discounts_for_half(url, keys)
        proc, base = _serve(url, args.workers, pool=max(args.clients // args.workers, 5))
        try:
            issue = _issue(base, marketer, ids)
            print(f"coupons to {issue['members']:,} members: {issue['seconds']} s "
                  f"({issue['coupons_issued']:,} issued, {issue['control']:,} held out)")
            plain = [f'"{k}"' for i, k in enumerate(keys) if i % 2]
            gold = [f'"{k}"' for i, k in enumerate(keys) if not i % 2]
            phases = {"plain": CHECKOUT_LUA % (",".join(plain), "", N_SKUS - 1),
                      "discounted": CHECKOUT_LUA % (",".join(gold), ',"coupon_code":"BENCH5","points":10', N_SKUS - 1)}
            runs: dict[str, list[dict]] = {name: [] for name in phases}
            for _ in range(2):
                for name, script in phases.items():
                    runs[name].append(_wrk(base, script, args.clients, args.seconds))
                    print(name, runs[name][-1])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        _drop_db(admin, DB)
    rate = {name: sum(r["requests_per_s"] for r in rs) / len(rs) for name, rs in runs.items()}
    ratio = rate["discounted"] / rate["plain"]
    result = {"issue_coupons": issue, "checkout": {
        "plain_per_s": round(rate["plain"], 1), "discounted_per_s": round(rate["discounted"], 1),
        "ratio": round(ratio, 3), "target": CHECKOUT_TARGET, "met": ratio >= CHECKOUT_TARGET,
        "clients": args.clients, "workers": args.workers, "runs": runs}}
    print(f"checkout with tier + coupon + points: {rate['discounted']:.0f}/s vs plain {rate['plain']:.0f}/s = "
          f"{ratio:.3f}x (target >= {CHECKOUT_TARGET})")
    out = REPO / "bench" / "results" / "marketing.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
