"""The price in force for a SKU: list price, replaced by the regional price of the buyer's region,
undercut by the lowest promotional price whose window [starts_at, ends_at) holds the moment and
whose region/channel (if set) match. Flash sales are priced separately (see ``orders``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.orm import Session

from commerce_api.errors import not_found
from commerce_api.schema import FlashSale, PromoPrice, RegionalPrice, Sku


@dataclass(frozen=True)
class Price:
    sku: str
    price: int
    rule: str  # list | regional:<region> | promo:<id> | flash:<id>
    list_price: int


def prices_in_force(session: Session, skus: list[str], at: datetime, region: str | None = None,
                    channel: str | None = None) -> dict[str, Price]:
    """The price in force of each SKU, in one query (unknown SKUs are left out)."""
    best_promo = (
        select(PromoPrice.id).where(
            PromoPrice.sku == Sku.sku, PromoPrice.starts_at <= at, PromoPrice.ends_at > at,
            or_(PromoPrice.region.is_(None), PromoPrice.region == literal(region)),
            or_(PromoPrice.channel.is_(None), PromoPrice.channel == literal(channel)),
        ).order_by(PromoPrice.price, PromoPrice.id).limit(1).correlate(Sku).scalar_subquery()
    )
    rows = session.execute(
        select(Sku.sku, Sku.list_price, RegionalPrice.price, PromoPrice.id, PromoPrice.price)
        .outerjoin(RegionalPrice, and_(RegionalPrice.sku == Sku.sku, RegionalPrice.region == literal(region)))
        .outerjoin(PromoPrice, PromoPrice.id == best_promo)
        .where(Sku.sku.in_(skus))
    )
    out = {}
    for sku, list_price, regional, promo_id, promo_price in rows:
        price, rule = list_price, "list"
        if regional is not None:
            price, rule = regional, f"regional:{region}"
        if promo_price is not None and promo_price < price:
            price, rule = promo_price, f"promo:{promo_id}"
        out[sku] = Price(sku, price, rule, list_price)
    return out


def price_in_force(session: Session, sku: str, at: datetime, region: str | None = None,
                   channel: str | None = None) -> Price:
    price = prices_in_force(session, [sku], at, region, channel).get(sku)
    if price is None:
        raise not_found("sku", sku)
    return price


def active_flash_sales(session: Session, skus: list[str], at: datetime) -> dict[str, FlashSale]:
    """The cheapest flash sale running at ``at`` per SKU."""
    out: dict[str, FlashSale] = {}
    for sale in session.execute(select(FlashSale).where(FlashSale.sku.in_(skus), FlashSale.starts_at <= at,
                                                        FlashSale.ends_at > at)).scalars():
        if sale.sku not in out or sale.price < out[sale.sku].price:
            out[sale.sku] = sale
    return out


def active_flash_sale(session: Session, sku: str, at: datetime) -> FlashSale | None:
    return active_flash_sales(session, [sku], at).get(sku)
