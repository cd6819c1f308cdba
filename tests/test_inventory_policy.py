"""Replenishment arithmetic by hand, and the policy simulation on demand with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from models.inventory_policy import Policy, order_quantity, simulate, targets


def test_targets_and_order_quantity_by_hand():
    policy = Policy(lead_days=7, review_days=7, service_level=0.95)
    t = targets(np.array([2.0]), np.array([7.0]), policy)
    safety = 1.6449 * 7.0 * np.sqrt(14 / 7)  # z * weekly sigma * sqrt(weeks covered)
    assert t["safety_stock"][0] == pytest.approx(safety, rel=1e-4)
    assert t["order_up_to"][0] == pytest.approx(2.0 * 14 + safety, rel=1e-4)
    assert t["reorder_point"][0] == pytest.approx(2.0 * 14 + safety - 7.0, rel=1e-4)
    qty = order_quantity(np.array([10.0, 40.0]), t["reorder_point"].repeat(2), t["order_up_to"].repeat(2))
    assert qty[0] == np.ceil(t["order_up_to"][0] - 10.0) and qty[1] == 0  # above s: no order


def test_simulation_counts_lost_sales_and_beats_reordering_last_week_on_noisy_demand():
    rng = np.random.default_rng(11)
    history = rng.poisson(3.0, size=(200, 56)).astype(float)
    demand = rng.poisson(3.0, size=(200, 56)).astype(float)
    policy = Policy(lead_days=2)
    ours = simulate(demand, np.full(200, 20.0), policy, "order_up_to", history)
    naive = simulate(demand, np.full(200, 20.0), policy, "last_week", history)
    assert ours.fill_rate > naive.fill_rate and ours.fill_rate > 0.93
    assert ours.lost_units == pytest.approx(demand.sum() * (1 - ours.fill_rate))
    # with no stock and no orders possible (zero history, zero lead-time orders), everything is lost
    empty = simulate(np.ones((1, 7)), np.zeros(1), Policy(lead_days=2), "last_week", np.zeros((1, 7)))
    assert empty.fill_rate == 0.0 and empty.lost_units == 7.0
