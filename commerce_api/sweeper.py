"""The reservation sweeper: cancels orders whose reservation expired and gives their stock back.

Each expired order is handled in its own short transaction with the order row locked, so a
payment callback racing the sweeper sees either the live order or the cancelled one, never half.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from commerce_api import group_buys, orders
from commerce_api.clock import utcnow
from commerce_api.db import transaction
from commerce_api.payments import Payments
from data.settings import Settings


def sweep_expired(factory: sessionmaker[Session], payments: Payments, settings: Settings,
                  now: datetime | None = None) -> list[str]:
    """Cancel every order whose reservation ended before ``now``; returns their ids."""
    now = now or utcnow()
    with factory() as session:
        candidates = orders.expired_order_ids(session, now)
    done = []
    for order_id in candidates:
        with transaction(factory) as session:
            order = orders.get_order(session, order_id, lock=True)
            # re-check under the lock: a payment may have landed since the candidates were read
            if order.status in ("created", "deposit_paid") and order.reserved_until and order.reserved_until < now:
                orders.cancel(session, order, "reservation expired before payment", now,
                              lambda o, r, s=session: payments.refund(s, o, r), settings)
                done.append(order_id)
    return done


def fail_expired_groups(factory: sessionmaker[Session], payments: Payments, settings: Settings,
                        now: datetime | None = None) -> int:
    """Fail the group buys still forming at their deadline: every order in them is cancelled and what
    was paid refunded (an order already handed over stays, for after-sale); returns the groups failed."""
    now = now or utcnow()
    with transaction(factory) as session:
        def cancel(order, reason: str) -> None:
            if "cancelled" in orders.TRANSITIONS[order.status]:
                orders.cancel(session, order, reason, now, lambda o, r: payments.refund(session, o, r), settings)

        return group_buys.fail_expired(session, now, cancel)
