"""The price in force for a SKU: list price, replaced by the regional price of the buyer's region,
undercut by the lowest promotional price whose window [starts_at, ends_at) holds the moment and
whose region/channel (if set) match. Flash sales are priced separately (see ``orders``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from commerce_api.errors import not_found
from commerce_api.schema import FlashSale, PromoPrice, RegionalPrice, Sku


@dataclass(frozen=True)
class Price:
    sku: str
    price: int
    rule: str  # list | regional:<region> | promo:<id> | flash:<id>
    list_price: int


def price_in_force(session: Session, sku: str, at: datetime, region: str | None = None,
                   channel: str | None = None) -> Price:
    row = session.get(Sku, sku)
    if row is None:
        raise not_found("sku", sku)
    price, rule = row.list_price, "list"
    if region:
        regional = session.get(RegionalPrice, (sku, region))
        if regional is not None:
            price, rule = regional.price, f"regional:{region}"
    promos = session.execute(
        select(PromoPrice).where(
            PromoPrice.sku == sku, PromoPrice.starts_at <= at, PromoPrice.ends_at > at,
            or_(PromoPrice.region.is_(None), PromoPrice.region == region),
            or_(PromoPrice.channel.is_(None), PromoPrice.channel == channel),
        ).order_by(PromoPrice.price, PromoPrice.id)
    ).scalars().first()
    if promos is not None and promos.price < price:
        price, rule = promos.price, f"promo:{promos.id}"
    return Price(sku, price, rule, row.list_price)


def active_flash_sale(session: Session, sku: str, at: datetime) -> FlashSale | None:
    return session.execute(
        select(FlashSale).where(FlashSale.sku == sku, FlashSale.starts_at <= at, FlashSale.ends_at > at)
        .order_by(FlashSale.price)
    ).scalars().first()
