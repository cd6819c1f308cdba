"""Points rewards (积分兑换): a member takes a reward's SKU for its points per unit instead of money.

The line is priced as usual and then paid in full by a ``reward`` discount line that records the
points it cost (``discounts.calculate``); the points are debited with the order (the balance never
goes below zero: ``loyalty.debit``), given back when it is cancelled, and in the returned units'
share when it is returned. An order paid entirely in points is paid when placed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from commerce_api.clock import iso
from commerce_api.errors import ApiError, conflict, not_found
from commerce_api.schema import PointsReward


def check(session: Session, reward_id: int, customer_id: str | None, wanted: dict[str, int],
          now: datetime) -> PointsReward:
    """The reward an order takes, checked: live, a member's, its SKU within its quantity per order."""
    reward = session.get(PointsReward, reward_id)
    if reward is None:
        raise not_found("points reward", str(reward_id))
    if not customer_id:
        raise ApiError(422, "member_required", "points rewards are for members")
    if not reward.starts_at <= now < reward.ends_at:
        raise conflict("reward_not_live", f"{reward.name} runs from {reward.starts_at:%Y-%m-%d %H:%M} "
                                          f"to {reward.ends_at:%Y-%m-%d %H:%M}")
    if not 0 < wanted.get(reward.sku, 0) <= reward.max_quantity:
        raise ApiError(422, "not_in_reward", f"a points reward takes 1 to {reward.max_quantity} of {reward.sku}")
    return reward


def reward_dict(r: PointsReward) -> dict:
    return {"id": r.id, "name": r.name, "sku": r.sku, "points": r.points, "max_quantity": r.max_quantity,
            "starts_at": iso(r.starts_at), "ends_at": iso(r.ends_at)}
