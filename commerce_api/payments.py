"""Payments: WeChat Pay and Alipay behind one adapter interface, and the stored-value card.

A provider adapter creates a payment on the provider's side, verifies the signature of its
callbacks and issues refunds. ``SimulatedProvider`` implements the interface locally with the
same shape as the real flow: HMAC-SHA256 signed callbacks, a provider transaction id that makes a
replayed callback a no-op. The stored-value card is our own ledger (``stored_value_entries``);
the balance lives on the customer row and a conditional update keeps it from going below zero.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import ConfigDict, Field, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from commerce_api import orders
from commerce_api.callbacks import SignedCallback, now_seconds, parse_signed, refuse
from commerce_api.clock import iso, utcnow
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import Customer, Order, Payment, Refund, StoredValueEntry
from commerce_api.signing import hmac_hex, verifies

PROVIDERS = ("wechat_pay", "alipay")
METHODS = (*PROVIDERS, "stored_value")


CallbackId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class PaymentCallback(SignedCallback):
    """What a provider says of a payment: ids are strings, the amount an integer in minor units of
    ``currency`` (ISO 4217), checked against the payment's."""

    model_config = ConfigDict(strict=True, extra="ignore")  # providers add fields of their own
    payment_id: CallbackId
    txn_id: CallbackId
    amount: int = Field(ge=0, le=10**12)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    status: Literal["SUCCESS", "FAILED"]


class ProviderAdapter(Protocol):
    name: str

    def create(self, payment: Payment) -> dict: ...
    def verify(self, body: bytes, signature: str) -> bool: ...
    def refund(self, payment: Payment, amount: int) -> str: ...


@dataclass
class SimulatedProvider:
    """A local stand-in for WeChat Pay / Alipay: same interface, real signatures."""

    name: str
    secret: str
    currency: str = "CNY"
    previous: str = ""  # the secret being rotated out: callbacks signed with it still verify

    def create(self, payment: Payment) -> dict:
        return {"prepay_id": f"{self.name}-{payment.id}", "amount": payment.amount}

    def sign(self, body: bytes) -> str:
        return hmac_hex(self.secret, body)

    def verify(self, body: bytes, signature: str) -> bool:
        return verifies(body, signature, self.secret, self.previous)

    def refund(self, payment: Payment, amount: int) -> str:
        return f"{self.name}-refund-{uuid.uuid4().hex[:16]}"

    def callback(self, payment_id: str, amount: int, txn_id: str | None = None, status: str = "SUCCESS",
                 currency: str | None = None, sent_at: int | None = None) -> tuple[bytes, str]:
        """What the provider would POST to us when the shopper has paid: (body, signature)."""
        body = json.dumps({"payment_id": payment_id, "txn_id": txn_id or f"{self.name}-txn-{uuid.uuid4().hex[:16]}",
                           "amount": amount, "currency": currency or self.currency, "status": status,
                           "sent_at": now_seconds() if sent_at is None else sent_at}, sort_keys=True).encode()
        return body, self.sign(body)


def stored_value_move(session: Session, customer_id: str, delta: int, reference: str) -> int:
    """Credit (delta > 0) or debit the card; a debit beyond the balance is refused. Returns the balance."""
    row = session.execute(
        update(Customer).where(Customer.id == customer_id, Customer.stored_value + delta >= 0)
        .values(stored_value=Customer.stored_value + delta).returning(Customer.stored_value)
    ).first()
    if row is None:
        if session.get(Customer, customer_id) is None:
            raise not_found("customer", customer_id)
        raise conflict("insufficient_balance", f"stored-value balance is below {-delta}")
    session.execute(insert(StoredValueEntry).values(customer_id=customer_id, delta=delta, balance_after=row[0],
                                                    reference=reference, created_at=utcnow()))
    return int(row[0])


class Payments:
    def __init__(self, providers: dict[str, ProviderAdapter], currency: str = "CNY",
                 callback_window_seconds: int = 300):
        self.providers, self.currency, self.callback_window_seconds = providers, currency, callback_window_seconds

    def start(self, session: Session, order: Order, method: str, amount: int | None = None) -> tuple[Payment, dict]:
        """Pay (part of) an order. Stored value settles at once; a provider payment waits for its callback."""
        if method not in METHODS:
            raise ApiError(422, "unknown_method", f"payment method is one of {', '.join(METHODS)}")
        if order.status not in ("created", "deposit_paid"):
            raise conflict("not_payable", f"order {order.id} is {order.status}")
        due = orders.amount_due(order)
        if amount is not None and amount != due and not (order.status == "created" and amount == order.total):
            raise ApiError(422, "wrong_amount", f"amount due is {due}", {"amount_due": due})
        amount = amount or due
        now = utcnow()
        payment = Payment(id=str(uuid.uuid4()), order_id=order.id, provider=method, amount=amount, status="pending",
                          refunded=0, created_at=now, updated_at=now)
        session.add(payment)
        if method == "stored_value":
            if not order.customer_id:
                raise ApiError(422, "member_required", "the stored-value card needs a member")
            stored_value_move(session, order.customer_id, -amount, f"payment:{payment.id}")
            payment.status, payment.provider_txn_id = "succeeded", f"sv-{payment.id}"
            session.flush()
            orders.record_payment(session, order, amount, now)
            return payment, {}
        session.flush()
        return payment, self.providers[method].create(payment)

    def on_callback(self, session: Session, provider: str, body: bytes, signature: str) -> dict:
        """A provider says a payment went through. Verified, idempotent; a late one re-reserves or refunds."""
        adapter = self.providers.get(provider)
        if adapter is None:
            raise not_found("payment provider", provider)
        msg = parse_signed(adapter, body, signature, PaymentCallback, self.callback_window_seconds)
        payment_id, txn_id, amount, status = msg.payment_id, msg.txn_id, msg.amount, msg.status
        if msg.currency != self.currency:
            raise refuse(provider, 422, "currency_mismatch", f"callback currency {msg.currency} != {self.currency}")
        payment = session.execute(select(Payment).where(Payment.id == payment_id, Payment.provider == provider)
                                  .with_for_update()).scalar_one_or_none()
        if payment is None:
            raise not_found("payment", payment_id)
        if payment.status != "pending":
            if payment.provider_txn_id == txn_id:
                return {"payment_id": payment.id, "status": payment.status, "replayed": True}
            raise conflict("payment_settled", f"payment {payment.id} is already {payment.status}")
        if amount != payment.amount:
            raise refuse(provider, 422, "amount_mismatch", f"callback amount {amount} != payment amount {payment.amount}")
        now = utcnow()
        payment.provider_txn_id, payment.updated_at = txn_id, now
        if status != "SUCCESS":
            payment.status = "failed"
            return {"payment_id": payment.id, "status": "failed", "replayed": False}
        payment.status = "succeeded"
        order = orders.get_order(session, payment.order_id, lock=True)
        outcome = "applied"
        if order.status == "cancelled" and not orders.reserve_again(session, order, now):
            order.paid += amount  # taken, then given back at once: the order cannot be filled any more
            self._refund_payment(session, order, payment, amount, "paid after the reservation expired; out of stock")
            outcome = "refunded"
        elif order.status not in ("created", "deposit_paid"):
            order.paid += amount  # e.g. paid twice through two providers: give the extra back
            self._refund_payment(session, order, payment, amount, f"order already {order.status}")
            outcome = "refunded"
        else:
            orders.record_payment(session, order, amount, now)
        session.flush()
        return {"payment_id": payment.id, "status": payment.status, "order_status": order.status,
                "outcome": outcome, "replayed": False}

    def _refund_payment(self, session: Session, order: Order, payment: Payment, amount: int, reason: str) -> None:
        if payment.provider == "stored_value":
            stored_value_move(session, order.customer_id, amount, f"refund:{payment.id}")
            ref = f"sv-refund-{payment.id}"
        else:
            ref = self.providers[payment.provider].refund(payment, amount)
        payment.refunded += amount
        payment.status = "refunded" if payment.refunded == payment.amount else payment.status
        payment.updated_at = utcnow()
        order.refunded += amount
        session.add(Refund(payment_id=payment.id, amount=amount, provider_refund_id=ref, reason=reason,
                           created_at=utcnow()))

    def refund(self, session: Session, order: Order, reason: str, amount: int | None = None) -> int:
        """Refund ``amount`` (default: everything not refunded yet) over the order's payments, newest first."""
        left = (order.paid - order.refunded) if amount is None else amount
        if left > order.paid - order.refunded:
            raise conflict("refund_too_large", f"at most {order.paid - order.refunded} can be refunded")
        done = 0
        paid = session.execute(select(Payment).where(Payment.order_id == order.id, Payment.status == "succeeded")
                               .order_by(Payment.created_at.desc())).scalars()
        for payment in paid:
            take = min(left, payment.amount - payment.refunded)
            if take > 0:
                self._refund_payment(session, order, payment, take, reason)
                left, done = left - take, done + take
        return done


def payment_dict(payment: Payment, provider_payload: dict | None = None) -> dict:
    return {"id": payment.id, "order_id": payment.order_id, "method": payment.provider, "amount": payment.amount,
            "status": payment.status, "refunded": payment.refunded, "provider": provider_payload or {},
            "created_at": iso(payment.created_at)}

