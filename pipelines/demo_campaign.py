"""The demo's campaign: marketers target the members the platform says are lapsing with a coupon,
holding out a control group, and simulated shoppers answer it through the commerce API over HTTP.

Everything goes through the API as a retailer's staff and shoppers would: a marketer saves the
segment and launches the campaign (coupons are issued set-based, the control group drawn at
random); some members of each group then buy, the treated ones with their coupon where their
basket qualifies. The response rates are the simulation's (``RESPONSE``), like the synthetic
generator's behaviour; ``marts.campaign_performance`` then measures what they did, after the
pipeline's ``marketing`` job reads the API's records back. The API's clock is set to the last day
of the warehouse's sales for the simulation, so the campaign happens on the data's own timeline.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import duckdb
import httpx
import numpy as np
import uvicorn
from sqlalchemy import select

from commerce_api import clock
from commerce_api.app import build_services, create_app
from commerce_api.auth import create_key
from commerce_api.db import transaction
from commerce_api.schema import CampaignMember, Customer, Sku, StockLevel
from data.settings import Settings
from pipelines.warehouse import marts_file

SEGMENT = "lapsing"
SEGMENT_RULE = {"churn_bands": ["high", "medium"]}
CONTROL_PERCENT = 20
RESPONSE = {"treatment": 0.12, "control": 0.06}  # share of each group that buys during the demo
EXPOSURE = 0.6  # share of the treated members who open the app and see the campaign (buyers all do)
EVENT_BATCH = 500
MAX_BUYERS = 300  # bounds the demo's time (each buyer is four or five requests)
COUPON = {"kind": "amount_off", "value": 1000, "min_spend": 5000}  # 10.00 off 50.00, minor units


class _Server:
    """The API on a free local port in a background thread, for the length of a ``with`` block."""

    def __init__(self, settings: Settings) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(settings, sweeper=False), host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the commerce API did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _call(client: httpx.Client, method: str, path: str, key: str, **kwargs) -> httpx.Response:
    return client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)


def _ok(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()


def _basket(stock: dict[str, list[str]], store: str | None, rng: np.random.Generator) -> list[dict]:
    """One to three SKUs in stock at the member's home store, drawn at random, one unit each."""
    skus = stock.get(store or "", [])
    picked = rng.choice(len(skus), size=min(len(skus), int(rng.integers(1, 4))), replace=False) if skus else []
    return [{"sku": skus[i], "quantity": 1} for i in sorted(picked)]


def run_demo_campaign(settings: Settings, seed: int = 7) -> dict:
    """Launch the lapsing members' coupon campaign and simulate the answers, on the last day of the
    warehouse's sales (the synthetic history ends in the past); returns what happened."""
    con = duckdb.connect(str(marts_file(settings)), read_only=True)
    try:
        data_end = con.execute("SELECT max(ordered_at) FROM marts.fct_orders").fetchone()[0]
    finally:
        con.close()
    with clock.replaying_at(data_end):
        return _run(settings, seed)


def _run(settings: Settings, seed: int) -> dict:
    services = build_services(settings)
    now = clock.utcnow()
    with transaction(services.sessions) as s:
        marketer = create_key(s, "marketer", name="demo marketer")
        service = create_key(s, "service", name="demo till and top-ups")
    window = {"starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(days=14)).isoformat()}
    with _Server(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        segment = _ok(_call(client, "POST", "/segments", marketer, json={
            "name": SEGMENT, "rule": SEGMENT_RULE, "note": "members at high or medium churn risk (the demo's campaign)"}))
        definition = _ok(_call(client, "POST", "/coupon-definitions", marketer, json={
            "name": "Come back: 10 off 50", "rule": COUPON, "per_customer_limit": 1, **window}))
        campaign = _ok(_call(client, "POST", "/campaigns", marketer, json={
            "name": "Win back the lapsing", "kind": "coupon", "coupon_definition_id": definition["id"],
            "audience": {"segment": SEGMENT}, "control_percent": CONTROL_PERCENT, **window}))
        launched = _ok(_call(client, "POST", f"/campaigns/{campaign['id']}/launch", marketer, json={}))
        buyers = _simulate(client, services, campaign["id"], service, seed)
    return {"campaign_id": campaign["id"], "segment_members": segment.get("members"), "day": now.date(), **{
        k: launched[k] for k in ("audience", "treatment", "control", "coupons_issued")}, **buyers}


def _post_views(client: httpx.Client, service_key: str, campaign_id: int, members: list, buyers: set[str],
                rng: np.random.Generator) -> int:
    """'Promotion Viewed' events, through ``POST /events``, for the treated members who see the
    campaign in the app (every treated buyer, and ``EXPOSURE`` of the others); returns how many."""
    at = clock.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    seen = [m.customer_id for m in members if m.grp == "treatment"
            and (m.customer_id in buyers or rng.random() < EXPOSURE)]
    events = [{"event_id": f"demo-campaign-{campaign_id}-{cid}", "event": "Promotion Viewed", "occurred_at": at,
               "user_id": cid, "channel": "app", "promotion_id": f"campaign:{campaign_id}"} for cid in seen]
    for start in range(0, len(events), EVENT_BATCH):
        report = _ok(_call(client, "POST", "/events", service_key, json=events[start:start + EVENT_BATCH]))
        if report["rejected"]:
            raise RuntimeError(f"demo events refused: {report['errors'][:3]}")
    return len(events)


def _simulate(client: httpx.Client, services, campaign_id: int, service_key: str, seed: int) -> dict:
    """Some members of each group buy at their home store; the treated ones use their coupon when
    the basket reaches its minimum spend."""
    rng = np.random.default_rng(seed)
    with services.reads() as s:
        members = s.execute(select(CampaignMember.customer_id, CampaignMember.grp, Customer.home_store_id)
                            .join(Customer, Customer.id == CampaignMember.customer_id)
                            .where(CampaignMember.campaign_id == campaign_id)
                            .order_by(CampaignMember.customer_id)).all()
        available = StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated
        stock: dict[str, list[str]] = {}
        for location, sku in s.execute(
                select(StockLevel.location_id, StockLevel.sku).join(Sku, Sku.sku == StockLevel.sku)
                .where(StockLevel.pool == "shared", available >= 3, Sku.listed)
                .order_by(StockLevel.location_id, StockLevel.sku)).all():
            stock.setdefault(location, []).append(sku)
    # each group answers at its rate; a large audience is scaled down evenly so the demo stays short
    scale = min(1.0, MAX_BUYERS / max(1.0, sum(RESPONSE[m.grp] for m in members)))
    chosen = [m for m in members
              if rng.random() < RESPONSE[m.grp] * scale and stock.get(m.home_store_id or "")]
    counts = {"treatment_buyers": 0, "control_buyers": 0, "coupons_used": 0, "refused": 0,
              "exposed": _post_views(client, service_key, campaign_id, members, {m.customer_id for m in chosen}, rng)}
    with transaction(services.sessions) as s:
        keys = {m.customer_id: create_key(s, "shopper", customer_id=m.customer_id, name="demo shopper")
                for m in chosen}
    for m in chosen:
        key, lines = keys[m.customer_id], _basket(stock, m.home_store_id, rng)
        body = {"channel": "app", "fulfillment": "pickup", "store_id": m.home_store_id, "lines": lines}
        placed = None
        if m.grp == "treatment":
            coupons = _ok(_call(client, "GET", f"/customers/{m.customer_id}/coupons", key))["items"]
            mine = [c["id"] for c in coupons if c.get("campaign_id") == campaign_id and c["status"] == "issued"]
            if mine:
                response = _call(client, "POST", "/orders", key, json={**body, "coupon_id": mine[0]})
                if response.status_code == 201:
                    placed = response.json()
                    counts["coupons_used"] += 1
        if placed is None:  # a control member, or a basket below the coupon's minimum spend
            response = _call(client, "POST", "/orders", key, json=body)
            if response.status_code != 201:  # sold out since the stock was read: the shopper leaves
                counts["refused"] += 1
                continue
            placed = response.json()
        _ok(_call(client, "POST", f"/customers/{m.customer_id}/stored-value/top-ups", service_key,
                  json={"amount": placed["total"], "reference": f"demo top-up {placed['id']}"}))
        _ok(_call(client, "POST", f"/orders/{placed['id']}/payments", key, json={"method": "stored_value"}))
        counts[f"{m.grp}_buyers"] += 1
    return counts
