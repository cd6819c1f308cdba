"""Carriers behind one adapter: a waybill per shipment, signed tracking callbacks.

``SimulatedCarrier`` is the local implementation of the interface: waybill numbers, tracking
statuses and HMAC-SHA256 signatures as a real carrier integration would have.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce_api import orders
from commerce_api.callbacks import DEFAULT_WINDOW_SECONDS, SignedCallback, now_seconds, parse_signed
from commerce_api.clock import utcnow
from commerce_api.errors import not_found
from commerce_api.schema import Shipment
from commerce_api.signing import hmac_hex, verifies

TrackingStatus = Literal["created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception"]
# delivery-time estimate in days, by where the stock ships from relative to the buyer's region
DELIVERY_DAYS = {("store", True): 1, ("regional_warehouse", True): 1, ("central_warehouse", True): 2,
                 ("store", False): 3, ("regional_warehouse", False): 3, ("central_warehouse", False): 3}


class TrackingCallback(SignedCallback):
    model_config = ConfigDict(strict=True, extra="ignore")
    waybill: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
    status: TrackingStatus


class CarrierAdapter(Protocol):
    name: str

    def create_waybill(self, order_id: str, shipment_id: int, location_id: str, region: str | None) -> str: ...
    def verify(self, body: bytes, signature: str) -> bool: ...


@dataclass
class SimulatedCarrier:
    name: str
    secret: str
    previous: str = ""  # the secret being rotated out: callbacks signed with it still verify

    def create_waybill(self, order_id: str, shipment_id: int, location_id: str, region: str | None) -> str:
        digest = hashlib.sha1(f"{order_id}:{shipment_id}".encode()).hexdigest()[:10].upper()
        return f"SIM{shipment_id:08d}{digest}"

    def sign(self, body: bytes) -> str:
        return hmac_hex(self.secret, body)

    def verify(self, body: bytes, signature: str) -> bool:
        return verifies(body, signature, self.secret, self.previous)

    def callback(self, waybill: str, status: str, sent_at: int | None = None) -> tuple[bytes, str]:
        body = json.dumps({"waybill": waybill, "status": status,
                           "sent_at": now_seconds() if sent_at is None else sent_at}, sort_keys=True).encode()
        return body, self.sign(body)


def on_tracking(session: Session, carrier: CarrierAdapter, body: bytes, signature: str,
                window_seconds: int = DEFAULT_WINDOW_SECONDS) -> dict:
    """Update a shipment's tracking; when every shipment of an order is delivered, it completes."""
    msg = parse_signed(carrier, body, signature, TrackingCallback, window_seconds)
    waybill, status = msg.waybill, msg.status
    shipment = session.execute(select(Shipment).where(Shipment.waybill == waybill).with_for_update()
                               ).scalar_one_or_none()
    if shipment is None:
        raise not_found("waybill", waybill)
    now = utcnow()
    if shipment.status == "delivered":
        return {"waybill": waybill, "status": "delivered", "replayed": True}
    shipment.tracking_status, shipment.updated_at = status, now
    if status == "delivered":
        shipment.status = "delivered"
        order = orders.get_order(session, shipment.order_id, lock=True)
        session.flush()
        if order.status == "shipped" and all(s.status == "delivered" for s in orders.shipments_of(session, order.id)):
            orders.complete(session, order, now)
    return {"waybill": waybill, "status": status, "replayed": False}
