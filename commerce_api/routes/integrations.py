"""Integrations: payment and carrier callbacks, the local simulators, tracking-event intake,
incremental exports for the pipelines, API keys and the reservation sweeper."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request
from sqlalchemy import select

from commerce_api import events, logistics, sweeper
from commerce_api import responses as R
from commerce_api.auth import create_key
from commerce_api.clock import as_utc, iso
from commerce_api.db import transaction
from commerce_api.deps import Caller, Ident, Paging, Services, Strict, Svc, Text200, paginate
from commerce_api.errors import ApiError, not_found
from commerce_api.openapi import raw_json_body
from commerce_api.payments import PROVIDERS, PaymentCallback, payment_dict
from commerce_api.routes.orders import check_order_access, list_orders
from commerce_api.schema import Order, Payment, Shipment, Sku, StockMovement

router = APIRouter(tags=["integrations"])
Signature = Annotated[str, Header(alias="X-Signature", max_length=256)]


@router.post("/payments/callbacks/{provider}", openapi_extra=raw_json_body(PaymentCallback), response_model=R.CallbackResult)
async def payment_callback(provider: Literal["wechat_pay", "alipay"], request: Request, x_signature: Signature,
                           ) -> dict:
    """Called by WeChat Pay / Alipay when a payment settles. The body is verified against
    ``X-Signature`` (HMAC-SHA256); a replayed callback changes nothing."""
    raw = await request.body()
    svc = request.app.state.services
    with transaction(svc.sessions) as s:
        return svc.payments.on_callback(s, provider, raw, x_signature)


@router.post("/logistics/callbacks/{carrier}", openapi_extra=raw_json_body(logistics.TrackingCallback), response_model=R.TrackingResult)
async def carrier_callback(carrier: Ident, request: Request, x_signature: Signature) -> dict:
    """Tracking status from a carrier (signed). Delivered on every shipment completes the order."""
    svc = request.app.state.services
    if carrier != svc.carrier.name:
        raise not_found("carrier", carrier)
    raw = await request.body()
    with transaction(svc.sessions) as s:
        return logistics.on_tracking(s, svc.carrier, raw, x_signature, svc.settings.callback_window_seconds)


class SimulatedPaymentIn(Strict):
    status: Literal["SUCCESS", "FAILED"] = "SUCCESS"


@router.post("/simulator/payments/{payment_id}", response_model=R.CallbackResult)
def simulate_payment(payment_id: Ident, body: SimulatedPaymentIn, who: Caller, svc: Svc) -> dict:
    """Development stand-in for the shopper paying in the WeChat / Alipay app: the simulator signs a
    callback and it goes through the same verification and handling as a real one."""
    who.require("service")
    with svc.reads() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.provider not in PROVIDERS:
            raise not_found("provider payment", payment_id)
    provider = svc.payments.providers[payment.provider]
    raw, signature = provider.callback(payment.id, payment.amount, status=body.status)
    with transaction(svc.sessions) as s:
        return svc.payments.on_callback(s, payment.provider, raw, signature)


class SimulatedTrackingIn(Strict):
    status: logistics.TrackingStatus


@router.post("/simulator/shipments/{waybill}", response_model=R.TrackingResult)
def simulate_tracking(waybill: Ident, body: SimulatedTrackingIn, who: Caller, svc: Svc) -> dict:
    """Development stand-in for the carrier: a signed tracking callback for a waybill."""
    who.require("service")
    raw, signature = svc.carrier.callback(waybill, body.status)
    with transaction(svc.sessions) as s:
        return logistics.on_tracking(s, svc.carrier, raw, signature)


@router.post("/events", status_code=207, response_model=R.EventIntake)
def intake_events(who: Caller, svc: Svc, batch: Annotated[Any, Body(
        description="a JSON list of tracking events (the pipelines' events contract)")]) -> dict:
    """Validate a batch of tracking events; good ones land for the pipelines, bad ones are listed with
    their index and reasons (nothing is dropped silently)."""
    who.require("shopper", "service")
    return events.intake(svc.settings.landing, batch, member=who.customer_id if who.role == "shopper" else None,
                         known_skus=lambda skus: _catalogued(svc, skus))


def _catalogued(svc: Services, skus: set[str]) -> set[str] | None:
    """Which of ``skus`` the catalogue holds; None when it holds no SKU at all."""
    with transaction(svc.sessions) as s:
        found = set(s.scalars(select(Sku.sku).where(Sku.sku.in_(sorted(skus)))))
        if not found and s.scalar(select(Sku.sku).limit(1)) is None:
            return None
    return found


@router.get("/exports/orders", response_model=R.Paged[R.OrderOut])
def export_orders(who: Caller, svc: Svc, paging: Paging, updated_since: datetime | None = None) -> dict:
    """Orders changed after ``updated_since``, oldest change first: the pipelines read incrementally."""
    return list_orders(who.require("service"), svc, paging, updated_since=updated_since)


@router.get("/exports/payments", response_model=R.Paged[R.PaymentOut])
def export_payments(who: Caller, svc: Svc, paging: Paging, updated_since: datetime | None = None) -> dict:
    who.require("service")
    q = select(Payment).order_by(Payment.updated_at, Payment.id)
    if updated_since:
        q = q.where(Payment.updated_at > as_utc(updated_since))
    with svc.reads() as s:
        return paginate(s, q, paging, payment_dict)


@router.get("/exports/stock-movements", response_model=R.Paged[R.Movement])
def export_movements(who: Caller, svc: Svc, paging: Paging,
                     after_id: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict:
    """The stock ledger after movement ``after_id`` (ids only grow: a cursor for incremental reads)."""
    who.require("service")
    q = select(StockMovement).where(StockMovement.id > after_id).order_by(StockMovement.id)
    with svc.reads() as s:
        return paginate(s, q, paging, lambda m: {
            "id": m.id, "sku": m.sku, "location_id": m.location_id, "pool": m.pool, "kind": m.kind,
            "on_hand_delta": m.on_hand_delta, "reserved_delta": m.reserved_delta,
            "allocated_delta": m.allocated_delta, "reference": m.reference, "created_at": iso(m.created_at)})


@router.get("/shipments/{waybill}", response_model=R.ShipmentOut)
def get_shipment(waybill: Ident, who: Caller, svc: Svc) -> dict:
    with svc.reads() as s:
        sh = s.execute(select(Shipment).where(Shipment.waybill == waybill)).scalar_one_or_none()
        if sh is None:
            raise not_found("waybill", waybill)
        check_order_access(s, who, s.get(Order, sh.order_id))
        return {"waybill": sh.waybill, "order_id": sh.order_id, "status": sh.status, "carrier": sh.carrier,
                "tracking_status": sh.tracking_status, "updated_at": iso(sh.updated_at)}


class KeyIn(Strict):
    role: Literal["shopper", "store_staff", "marketer", "service", "admin"]
    customer_id: Ident | None = None
    store_id: Ident | None = None
    name: Text200 | None = None


@router.post("/api-keys", status_code=201, response_model=R.ApiKey)
def new_key(body: KeyIn, who: Caller, svc: Svc) -> dict:
    """Issue a key (admin only). The plain key is in this response only."""
    who.require("admin")
    try:
        with transaction(svc.sessions) as s:
            key = create_key(s, body.role, customer_id=body.customer_id, store_id=body.store_id, name=body.name)
    except ValueError as exc:
        raise ApiError(422, "invalid_key_request", str(exc)) from exc
    return {"key": key, "role": body.role, "customer_id": body.customer_id, "store_id": body.store_id}


@router.post("/admin/sweep-reservations", response_model=R.Swept)
def sweep(who: Caller, svc: Svc) -> dict:
    """Cancel orders whose reservation expired and fail the group buys past their deadline, refunding
    their orders (the app also runs this every few seconds)."""
    who.require("service")
    return {"cancelled": sweeper.sweep_expired(svc.sessions, svc.payments, svc.settings),
            "groups_failed": sweeper.fail_expired_groups(svc.sessions, svc.payments, svc.settings)}
