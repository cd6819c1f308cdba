"""The price in force for a SKU: list price, replaced by the regional price of the buyer's region,
undercut by the lowest promotional price whose window [starts_at, ends_at) holds the moment and
whose region/channel (if set) match. Flash sales are priced separately (see ``orders``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    ScalarSelect,
    Select,
    String,
    and_,
    bindparam,
    or_,
    select,
)
from sqlalchemy.orm import Session

from commerce_api.errors import not_found
from commerce_api.schema import FlashSale, PromoPrice, RegionalPrice, Sku


@dataclass(frozen=True)
class Price:
    sku: str
    price: int
    rule: str  # list | regional:<region> | promo:<id> | flash:<id>
    list_price: int


def with_prices(query: Select, region: ColumnElement[str]) -> Select:
    """``query`` (over ``skus``) with the columns ``price_from_row`` reads: list price, the regional
    price of ``region`` and the best promotion running at the bind parameter ``at`` for ``region`` and
    the bind parameter ``channel``. ``region`` may be a bind parameter or an expression over the
    query's tables (checkout derives it from the order, a till scan takes the store's)."""
    best_promo = (
        select(PromoPrice.id).where(
            PromoPrice.sku == Sku.sku, PromoPrice.starts_at <= bindparam("at"), PromoPrice.ends_at > bindparam("at"),
            or_(PromoPrice.region.is_(None), PromoPrice.region == region),
            or_(PromoPrice.channel.is_(None), PromoPrice.channel == bindparam("channel", type_=String)),
        ).order_by(PromoPrice.price, PromoPrice.id).limit(1).correlate_except(PromoPrice).scalar_subquery()
    )
    return (query.add_columns(Sku.list_price, RegionalPrice.price.label("regional_price"),
                              PromoPrice.id.label("promo_id"), PromoPrice.price.label("promo_price"))
            .outerjoin(RegionalPrice, and_(RegionalPrice.sku == Sku.sku, RegionalPrice.region == region))
            .outerjoin(PromoPrice, PromoPrice.id == best_promo))


def price_from_row(row: Row, region: str | None) -> Price:
    """The price in force from a row of a ``with_prices`` query."""
    price, rule = row.list_price, "list"
    if row.regional_price is not None:
        price, rule = row.regional_price, f"regional:{region}"
    if row.promo_price is not None and row.promo_price < price:
        price, rule = row.promo_price, f"promo:{row.promo_id}"
    return Price(row.sku, price, rule, row.list_price)


# Built once with bind parameters: building a statement of this size costs more than running it.
_PRICES = with_prices(select(Sku.sku), bindparam("region", type_=String)).where(
    Sku.sku.in_(bindparam("skus", expanding=True)))


def prices_in_force(session: Session | Connection, skus: list[str], at: datetime, region: str | None = None,
                    channel: str | None = None) -> dict[str, Price]:
    """The price in force of each SKU, in one query (unknown SKUs are left out)."""
    rows = session.execute(_PRICES, {"skus": list(skus), "at": at, "region": region, "channel": channel})
    return {row.sku: price_from_row(row, region) for row in rows}


def price_in_force(session: Session | Connection, sku: str, at: datetime, region: str | None = None,
                   channel: str | None = None) -> Price:
    price = prices_in_force(session, [sku], at, region, channel).get(sku)
    if price is None:
        raise not_found("sku", sku)
    return price


def cheapest_flash_sale(sku: ColumnElement[str]) -> ScalarSelect[int]:
    """Correlated subquery (to ``skus``): the id of the cheapest flash sale of ``sku`` running at the
    bind parameter ``at`` (ties: the older sale), NULL when none runs."""
    return (select(FlashSale.id).where(FlashSale.sku == sku, FlashSale.starts_at <= bindparam("at"),
                                       FlashSale.ends_at > bindparam("at"))
            .order_by(FlashSale.price, FlashSale.id).limit(1).correlate(Sku).scalar_subquery())


_FLASH_SALES = select(FlashSale).join(Sku, FlashSale.id == cheapest_flash_sale(Sku.sku)).where(
    Sku.sku.in_(bindparam("skus", expanding=True)))


def active_flash_sales(session: Session, skus: list[str], at: datetime) -> dict[str, FlashSale]:
    """The cheapest flash sale running at ``at`` per SKU."""
    return {sale.sku: sale for sale in session.execute(_FLASH_SALES, {"skus": list(skus), "at": at}).scalars()}


def active_flash_sale(session: Session, sku: str, at: datetime) -> FlashSale | None:
    return active_flash_sales(session, [sku], at).get(sku)
