"""Replenishment policy arithmetic and its simulation. Plain numpy; units are items and days.

Periodic review (R, s, S): every ``review_days`` (R) a location whose position (on hand + in
transit - reserved) is at or below s orders up to S, where S covers demand over the lead time plus
the review period with a safety stock of z * sigma over that span (stock must last until the next
order can arrive), and s = S - half a review period's demand (no order for a small shortfall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class Policy:
    lead_days: float
    review_days: float = 7.0
    service_level: float = 0.95

    @property
    def z(self) -> float:
        return float(norm.ppf(self.service_level))


def targets(daily_mean: np.ndarray, weekly_sigma: np.ndarray, policy: Policy) -> dict[str, np.ndarray]:
    """Safety stock, reorder point and order-up-to level per series (arrays of the same shape)."""
    span = policy.lead_days + policy.review_days
    safety = policy.z * weekly_sigma * np.sqrt(span / 7.0)
    order_up_to = daily_mean * span + safety
    reorder_point = order_up_to - daily_mean * policy.review_days / 2
    return {"safety_stock": safety, "reorder_point": reorder_point, "order_up_to": order_up_to}


def order_quantity(position: np.ndarray, reorder_point: np.ndarray, order_up_to: np.ndarray) -> np.ndarray:
    """Whole units to order now: up to S when the position is at or below s, else nothing."""
    return np.where(position <= reorder_point, np.ceil(np.maximum(order_up_to - position, 0)), 0.0)


@dataclass(frozen=True)
class SimulationResult:
    fill_rate: float  # units sold / units demanded
    average_inventory: float  # mean units on hand per series and day
    lost_units: float
    orders: int


def simulate(demand: np.ndarray, start_on_hand: np.ndarray, policy: Policy, rule: str,
             history: np.ndarray) -> SimulationResult:
    """Replay daily ``demand`` (series, days) against a policy with lost sales.

    ``rule`` is ``"order_up_to"`` (this module's policy, demand estimated from the last 8 weeks of
    ``history`` and rolled forward with what was sold) or ``"last_week"`` (the naive rule: reorder
    what sold last week). Orders placed at a review arrive ``lead_days`` later."""
    n, days = demand.shape
    lead = int(round(policy.lead_days))
    review = int(round(policy.review_days))
    on_hand = start_on_hand.astype(float).copy()
    pipeline = np.zeros((n, days + lead + 1))
    seen = [history[:, i] for i in range(history.shape[1])]  # daily sales observed so far
    sold_total, demand_total, inventory_sum, orders = 0.0, 0.0, 0.0, 0
    for day in range(days):
        on_hand += pipeline[:, day]
        sold = np.minimum(on_hand, demand[:, day])
        on_hand -= sold
        sold_total += sold.sum()
        demand_total += demand[:, day].sum()
        inventory_sum += on_hand.sum()
        seen.append(sold)
        if day % review == review - 1:
            recent = np.stack(seen[-56:], axis=1)
            if rule == "last_week":
                qty = np.stack(seen[-7:], axis=1).sum(axis=1)
            else:
                weekly = recent[:, : (recent.shape[1] // 7) * 7].reshape(n, -1, 7).sum(axis=2)
                t = targets(recent.mean(axis=1), weekly.std(axis=1), policy)
                position = on_hand + pipeline[:, day + 1:].sum(axis=1)
                qty = order_quantity(position, t["reorder_point"], t["order_up_to"])
            pipeline[:, day + lead] += qty
            orders += int((qty > 0).sum())
    return SimulationResult(fill_rate=float(sold_total / demand_total) if demand_total else 1.0,
                            average_inventory=float(inventory_sum / (n * days)),
                            lost_units=float(demand_total - sold_total), orders=orders)
