"""Catalogue: suppliers, products with multi-spec SKUs, prices in force, promotions, flash sales."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator
from sqlalchemy import Select, select

from commerce_api import responses as R
from commerce_api.clock import as_utc, iso, utcnow
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Money, Page, Paging, Services, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, not_found
from commerce_api.pricing import active_flash_sale, price_in_force
from commerce_api.schema import CatalogueVersion, FlashSale, Product, PromoPrice, RegionalPrice, Sku, Supplier
from data.contract import CHANNELS

router = APIRouter(tags=["catalogue"])
Channel = Literal[CHANNELS]  # the contract's channels: what the API sells through is what ingestion accepts


class SupplierIn(Strict):
    id: Ident
    name: Text200
    lead_time_days: int = Field(7, ge=0, le=365)


class SkuIn(Strict):
    sku: Ident
    spec: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict, max_length=10, description="e.g. {'colour': 'red', 'size': 'M'}")
    barcode: Ident | None = None
    list_price: Money
    listed: bool = True
    visible_channels: list[Channel] | None = Field(None, description="null: every channel")
    stock_pools: Literal["shared", "per_channel"] = "shared"


class ProductIn(Strict):
    id: Ident
    name: Text200
    category: Text200
    brand: Text200 | None = None
    supplier_id: Ident | None = None
    listed: bool = True
    presale_ship_after: date | None = Field(None, strict=False)
    presale_deposit_pct: int | None = Field(None, ge=1, le=100)
    skus: list[SkuIn] = Field(min_length=1, max_length=200)


class ProductPatch(Strict):
    name: Text200 | None = None
    category: Text200 | None = None
    brand: Text200 | None = None
    listed: bool | None = None


class SkuPatch(Strict):
    list_price: Money | None = None
    listed: bool | None = None
    visible_channels: list[Channel] | None = None
    stock_pools: Literal["shared", "per_channel"] | None = None


class WindowIn(Strict):
    starts_at: datetime = Field(strict=False)
    ends_at: datetime = Field(strict=False)

    @model_validator(mode="after")
    def _window(self):
        if as_utc(self.ends_at) <= as_utc(self.starts_at):
            raise ValueError("ends_at must be after starts_at")
        return self


def running(model, now: datetime) -> Select:
    """Rows of ``model`` (a deal with ``starts_at`` / ``ends_at``) whose window holds ``now``."""
    return select(model).where(model.starts_at <= now, model.ends_at > now)


class PromoIn(WindowIn):
    price: Money
    region: Ident | None = None
    channel: Channel | None = None
    name: Text200 | None = None


class FlashSaleIn(WindowIn):
    price: Money
    per_customer_limit: int = Field(ge=1, le=1000)


class RegionalPriceIn(Strict):
    price: Money


def sku_dict(s: Sku) -> dict:
    return {"sku": s.sku, "product_id": s.product_id, "spec": s.spec, "barcode": s.barcode, "list_price": s.list_price,
            "listed": s.listed, "visible_channels": s.visible_channels, "stock_pools": s.stock_pools}


def product_dict(p: Product, skus: list[Sku]) -> dict:
    return {"id": p.id, "name": p.name, "category": p.category, "brand": p.brand, "supplier_id": p.supplier_id,
            "listed": p.listed, "presale_ship_after": p.presale_ship_after.isoformat() if p.presale_ship_after else None,
            "presale_deposit_pct": p.presale_deposit_pct, "skus": [sku_dict(s) for s in skus]}


def _skus(session, product_id: str) -> list[Sku]:
    return list(session.execute(select(Sku).where(Sku.product_id == product_id).order_by(Sku.sku)).scalars())


@router.post("/suppliers", status_code=201, response_model=R.Supplier)
def create_supplier(body: SupplierIn, who: Caller, svc: Svc) -> dict:
    who.require("marketer", "service")
    with transaction(svc.sessions) as s:
        if s.get(Supplier, body.id):
            raise ApiError(409, "exists", f"supplier {body.id} exists")
        s.add(Supplier(**body.model_dump()))
    return body.model_dump()


@router.post("/products", status_code=201, response_model=R.ProductOut)
def create_product(body: ProductIn, who: Caller, svc: Svc) -> dict:
    """A product and its SKUs (one per spec combination, e.g. colour x size)."""
    who.require("marketer", "service")
    now = utcnow()
    with transaction(svc.sessions) as s:
        if s.get(Product, body.id):
            raise ApiError(409, "exists", f"product {body.id} exists")
        if body.supplier_id and s.get(Supplier, body.supplier_id) is None:
            raise not_found("supplier", body.supplier_id)
        clash = s.execute(select(Sku.sku).where(Sku.sku.in_([k.sku for k in body.skus]))).scalars().all()
        if clash or len({k.sku for k in body.skus}) < len(body.skus):
            raise ApiError(409, "exists", "SKU ids must be new and distinct", {"existing": clash})
        p = Product(updated_at=now, **body.model_dump(exclude={"skus"}))
        s.add(p)
        s.flush()
        rows = [Sku(product_id=p.id, updated_at=now, **k.model_dump()) for k in body.skus]
        s.add_all(rows)
        s.flush()
        out = product_dict(p, rows)
    svc.shelf.forget()
    return out


_CATALOGUE_VERSION = select(CatalogueVersion.version).where(CatalogueVersion.id == 1)


@router.get("/products", response_model=R.Paged[R.ProductOut])
def list_products(who: Caller, svc: Svc, paging: Paging, category: Annotated[str | None, Query(max_length=200)] = None,
                  channel: Channel | None = None, include_unlisted: bool = False) -> dict:
    """Products, filtered by category; shoppers see only listed products.

    Pages are cached per process under the catalogue version (bumped by the database on any product
    or SKU change); the version is read first, so a page is never older than the request."""
    show_unlisted = include_unlisted and who.role != "shopper"
    key = (category, channel, show_unlisted, paging.limit, paging.offset)
    with svc.read_connection() as conn:
        version = conn.execute(_CATALOGUE_VERSION).scalar_one()
    body = svc.catalogue_pages.get(key, version)
    if body is None:
        body = JSONResponse(_product_page(svc, paging, category, channel, show_unlisted)).body
        svc.catalogue_pages.put(key, version, body)
    return Response(body, media_type="application/json")


def _product_page(svc: Services, paging: Page, category: str | None, channel: str | None, show_unlisted: bool
                  ) -> dict:
    # plain rows, not ORM objects: a page is read, never changed
    q = select(Product.__table__).order_by(Product.id)
    if category:
        q = q.where(Product.category == category)
    if not show_unlisted:
        q = q.where(Product.listed)
    with svc.reads() as s:
        out = paginate(s, q, paging, lambda p: p)
        by_product: dict[str, list] = {}
        for k in s.execute(select(Sku.__table__).where(Sku.product_id.in_([p.id for p in out["items"]]))
                           .order_by(Sku.sku)):  # one query for the page's SKUs
            if (k.listed or show_unlisted) and (
                    channel is None or k.visible_channels is None or channel in k.visible_channels):
                by_product.setdefault(k.product_id, []).append(k)
        out["items"] = [product_dict(p, by_product.get(p.id, [])) for p in out["items"]]
    return out


@router.get("/products/{product_id}", response_model=R.ProductOut)
def get_product(product_id: Ident, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        p = s.get(Product, product_id)
        if p is None or (who.role == "shopper" and not p.listed):
            raise not_found("product", product_id)
        return product_dict(p, _skus(s, p.id))


@router.patch("/products/{product_id}", response_model=R.ProductOut)
def patch_product(product_id: Ident, body: ProductPatch, who: Caller, svc: Svc) -> dict:
    """Edit, list or delist a product."""
    who.require("marketer")
    with transaction(svc.sessions) as s:
        p = s.get(Product, product_id, with_for_update=True)
        if p is None:
            raise not_found("product", product_id)
        for k, v in body.model_dump(exclude_unset=True).items():
            if v is not None:
                setattr(p, k, v)
        p.updated_at = utcnow()
        out = product_dict(p, _skus(s, p.id))
    svc.shelf.forget()
    return out


@router.patch("/skus/{sku}", response_model=R.SkuOut)
def patch_sku(sku: Ident, body: SkuPatch, who: Caller, svc: Svc) -> dict:
    """Price, listing, channel visibility and stock pool mode of one SKU."""
    who.require("marketer")
    with transaction(svc.sessions) as s:
        row = s.get(Sku, sku, with_for_update=True)
        if row is None:
            raise not_found("sku", sku)
        for k, v in body.model_dump(exclude_unset=True).items():
            if v is not None or k == "visible_channels":
                setattr(row, k, v)
        row.updated_at = utcnow()
        out = sku_dict(row)
    svc.shelf.forget()
    return out


@router.put("/skus/{sku}/regional-prices/{region}", response_model=R.RegionalPrice)
def put_regional_price(sku: Ident, region: Ident, body: RegionalPriceIn, who: Caller, svc: Svc) -> dict:
    who.require("marketer")
    with transaction(svc.sessions) as s:
        if s.get(Sku, sku) is None:
            raise not_found("sku", sku)
        row = s.get(RegionalPrice, (sku, region))
        if row is None:
            s.add(RegionalPrice(sku=sku, region=region, price=body.price))
        else:
            row.price = body.price
    return {"sku": sku, "region": region, "price": body.price}


def _add_window_rule(svc, sku: str, table: type[PromoPrice] | type[FlashSale], body: WindowIn) -> dict:
    """Store a price rule with a validity window (times kept as naive UTC)."""
    with transaction(svc.sessions) as s:
        if s.get(Sku, sku) is None:
            raise not_found("sku", sku)
        row = table(sku=sku, **{**body.model_dump(), "starts_at": as_utc(body.starts_at),
                                "ends_at": as_utc(body.ends_at)})
        s.add(row)
        s.flush()
        return {"id": row.id, "sku": sku, **body.model_dump(mode="json"),
                "starts_at": iso(body.starts_at), "ends_at": iso(body.ends_at)}


@router.post("/skus/{sku}/promotions", status_code=201, response_model=R.PriceRule)
def create_promotion(sku: Ident, body: PromoIn, who: Caller, svc: Svc) -> dict:
    """A promotional price valid in [starts_at, ends_at), optionally for one region or channel."""
    who.require("marketer")
    return _add_window_rule(svc, sku, PromoPrice, body)


@router.post("/skus/{sku}/flash-sales", status_code=201, response_model=R.PriceRule)
def create_flash_sale(sku: Ident, body: FlashSaleIn, who: Caller, svc: Svc) -> dict:
    """A flash-sale price valid in [starts_at, ends_at) with a per-member quantity limit."""
    who.require("marketer")
    return _add_window_rule(svc, sku, FlashSale, body)


@router.get("/skus/{sku}/price", response_model=R.Price)
def get_price(sku: Ident, who: Caller, svc: Svc, region: Annotated[str | None, Query(max_length=64)] = None,
              channel: Channel | None = None, at: datetime | None = None) -> dict:
    """The price in force at ``at`` (default now) for a region and channel, and the rule that set it."""
    moment = as_utc(at) if at else utcnow()
    with svc.reads() as s:
        price = price_in_force(s, sku, moment, region, channel)
        sale = active_flash_sale(s, sku, moment)
    out = {"sku": sku, "price": price.price, "rule": price.rule, "list_price": price.list_price,
           "at": iso(moment)}
    if sale is not None and sale.price < price.price:
        out["flash_sale"] = {"id": sale.id, "price": sale.price, "per_customer_limit": sale.per_customer_limit,
                             "ends_at": iso(sale.ends_at)}
    return out
