"""What the platform knows, from its live published version (``serving.published``): a member's
profile for staff and marketers, the forecasts and replenishment suggestions for store managers
and buyers, and the saved segments that campaigns and the dashboards' picker use.

Each answer names the version it came from (``serving_version``, and the ``X-Serving-Version``
header); before the first publish these routes answer 503 ``not_ready``.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated

import duckdb
import polars as pl
from fastapi import APIRouter, Query, Response
from pydantic import Field
from sqlalchemy import select

from commerce_api import responses as R
from commerce_api.clock import iso
from commerce_api.deps import Caller, Ident, Paging, Strict, Svc, Text1000
from commerce_api.errors import ApiError, not_found
from commerce_api.routes.recommendations import VERSION_HEADER, live_version
from commerce_api.schema import Customer, Order
from serving.live import Served
from serving.segments import TAGS, SegmentRule, SegmentStore, audience

router = APIRouter(tags=["insights"])
LAST_ORDERS = 5


def served(svc, response: Response) -> Served:
    """The live published version (and its number in the response header), or 503."""
    live = live_version(svc)
    response.headers[VERSION_HEADER] = str(live.version)
    return live


def _clean(row: dict) -> dict:
    """JSON-safe: times as the API writes them (RFC 3339 UTC), days as ISO dates, NaN as null."""
    out = {}
    for key, value in row.items():
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif isinstance(value, datetime):
            value = iso(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


# ---------------------------------------------------------------- member profile
@router.get("/customers/{customer_id}/profile", response_model=R.MemberProfile)
def member_profile(customer_id: Ident, who: Caller, svc: Svc, response: Response) -> dict:
    """A member as the platform sees them: RFM segment, behaviour tags, CLV, churn risk, win-back
    flag and coupon pick (from the published models), with tier, points and last orders from this
    database. For the member themself, staff of their home store, marketers and admins."""
    who.require("shopper", "store_staff", "marketer")
    who.check_customer(customer_id)
    live = served(svc, response)
    with svc.reads() as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise not_found("customer", customer_id)
        if who.role == "store_staff" and customer.home_store_id != who.store_id:
            raise ApiError(403, "forbidden", f"store staff of {who.store_id} see the profiles of their own "
                                             "store's members only")
        orders = s.execute(select(Order.id, Order.status, Order.channel, Order.total, Order.created_at)
                           .where(Order.customer_id == customer_id)
                           .order_by(Order.created_at.desc(), Order.id).limit(LAST_ORDERS)).all()
        base = {"customer_id": customer.id, "tier": customer.tier, "points": customer.points,
                "home_store_id": customer.home_store_id}
    row = live.profile(customer_id)
    published = None
    if row is not None:
        row = _clean(row)
        published = {k: row[k] for k in R.PublishedProfile.model_fields if k != "tags"}
        published["tags"] = [tag for tag in TAGS if row.get(tag)]
    coupon = live.coupon(customer_id)
    return {**base, "serving_version": live.version, "published": published,
            "coupon": {k: v for k, v in _clean(coupon).items() if k in R.CouponPick.model_fields} if coupon else None,
            "last_orders": [{"id": o.id, "status": o.status, "channel": o.channel, "total": o.total,
                             "placed_at": iso(o.created_at)} for o in orders]}


# ---------------------------------------------------------------- forecasts and replenishment
def _location_scope(who, location_id: str | None) -> str | None:
    """Store staff see their own store; the others any location (or all)."""
    if who.role == "store_staff":
        location_id = location_id or who.store_id
        who.check_store(location_id)
    return location_id


@router.get("/forecasts", response_model=R.Forecasts)
def forecasts(who: Caller, svc: Svc, response: Response, sku: Ident,
              location_id: Annotated[Ident | None, Query(description="default: every location (store staff: "
                                                                     "their store)")] = None) -> dict:
    """Weekly unit forecasts of a SKU with their 80 % and 95 % intervals, per location."""
    who.require("store_staff", "service")
    location_id = _location_scope(who, location_id)
    live = served(svc, response)
    frame = live.forecasts.filter(pl.col("sku") == sku)
    if location_id is not None:
        frame = frame.filter(pl.col("location_id") == location_id)
    return {"serving_version": live.version, "items": [_clean(r) for r in frame.iter_rows(named=True)]}


@router.get("/replenishment", response_model=R.Replenishment)
def replenishment(who: Caller, svc: Svc, response: Response, page: Paging,
                  location_id: Annotated[Ident | None, Query(description="default: every location (store "
                                                                         "staff: their store)")] = None,
                  action: Annotated[str | None, Query(max_length=32, description="e.g. order, transfer, none"
                                                      )] = None) -> dict:
    """Replenishment suggestions per SKU x location: position, reorder point, order-up-to level,
    the quantity to order or transfer and why; most urgent (fewest days of cover) first."""
    who.require("store_staff", "service")
    location_id = _location_scope(who, location_id)
    live = served(svc, response)
    frame = live.replenishment
    if location_id is not None:
        frame = frame.filter(pl.col("location_id") == location_id)
    if action is not None:
        frame = frame.filter(pl.col("action") == action)
    frame = frame.sort("days_of_cover", "location_id", "sku", nulls_last=True)
    rows = frame.slice(page.offset, page.limit)
    return {"serving_version": live.version, "items": [_clean(r) for r in rows.iter_rows(named=True)],
            "total": frame.height, "limit": page.limit, "offset": page.offset}


# ---------------------------------------------------------------- segments
class SegmentIn(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    rule: dict = Field(description="conditions that must all hold: rfm_segments, tags, regions, home_stores, tiers, "
                                   "min_orders, max_orders, min_recency_days, max_recency_days, churn_bands, "
                                   "min_churn_probability, min_clv")
    note: Text1000 = ""
    preview: bool = Field(False, description="true: only count the members, save nothing")


def _rule(data: dict) -> SegmentRule:
    try:
        rule = SegmentRule.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "invalid_rule", str(exc)) from None
    if rule.bought_category:
        raise ApiError(422, "invalid_rule", "bought_category needs the order lines: pick it in the dashboards' "
                                            "segment picker, which reads the warehouse")
    return rule


def _audience(live: Served, rule: SegmentRule) -> pl.DataFrame:
    """The members ``rule`` selects from the published profiles (``serving.segments.audience``)."""
    con = duckdb.connect()
    try:
        con.register("profiles", live.profiles)
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE VIEW marts.customer_profile AS SELECT * FROM profiles")
        return audience(lambda sql, params: con.sql(sql, params=list(params)).pl(), rule)
    finally:
        con.close()


@router.get("/segments", response_model=R.Items[R.SavedSegment])
def list_segments(who: Caller, svc: Svc) -> dict:
    """Saved segments, each with its latest version."""
    who.require("marketer", "service")
    store = SegmentStore(svc.settings.segments)
    items = []
    for name in store.names():
        latest = store.versions(name)[-1]
        items.append({"name": name, "version": latest["version"], "members_at_save": latest["members"],
                      "note": latest["note"], "saved_at": latest["saved_at"], "rule": latest["rule"]})
    return {"items": items}


@router.post("/segments", response_model=R.SegmentSaved, status_code=201)
def save_segment(body: SegmentIn, who: Caller, svc: Svc, response: Response) -> dict:
    """Save a rule over the published profiles as the next version of ``name`` (or, with
    ``preview``, only count who it selects)."""
    who.require("marketer")
    rule = _rule(body.rule)
    live = served(svc, response)
    members = _audience(live, rule).height
    if body.preview:
        response.status_code = 200
        return {"name": body.name, "version": None, "members": members, "serving_version": live.version}
    version = SegmentStore(svc.settings.segments).save(body.name, rule, members, body.note)
    return {"name": body.name, "version": version, "members": members, "serving_version": live.version}


def segment_audience(svc, response: Response, name: str, version: int | None = None) -> tuple[Served, pl.DataFrame]:
    """The live snapshot and the members the saved segment ``name`` selects in it (404 if unknown)."""
    try:
        rule = SegmentStore(svc.settings.segments).load(name, version)
    except (KeyError, ValueError):
        raise not_found("segment", name if version is None else f"{name} v{version}") from None
    live = served(svc, response)
    return live, _audience(live, rule)


@router.get("/segments/{name}/members", response_model=R.SegmentMembers)
def segment_members(name: Ident, who: Caller, svc: Svc, response: Response, page: Paging,
                    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None) -> dict:
    """The members a saved segment selects today, from the live published profiles, most valuable first."""
    who.require("marketer", "service")
    live, members = segment_audience(svc, response, name, version)
    rows = members.slice(page.offset, page.limit)
    return {"name": name, "serving_version": live.version,
            "items": [_clean(r) for r in rows.iter_rows(named=True)],
            "total": members.height, "limit": page.limit, "offset": page.offset}
