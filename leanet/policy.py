"""Pick the thresholds a device runs with, from a Pareto set.

A device with an energy budget takes the most accurate Pareto point within the budget;
one with an accuracy floor takes the cheapest point that meets it.
"""

from __future__ import annotations

import torch

from leanet.evaluator import ThresholdMetrics


def choose_thresholds(
    front: ThresholdMetrics,
    *,
    energy_budget: float | None = None,
    accuracy_floor: float | None = None,
) -> int:
    """Index into ``front`` of the chosen point.

    Args:
        front: Pareto set of threshold vectors with their metrics.
        energy_budget: Largest acceptable energy ratio (to the full network); choose
            the most accurate point within it.
        accuracy_floor: Smallest acceptable accuracy; choose the cheapest point above it.

    Raises:
        ValueError: Neither or both given, or no point satisfies the requirement (the
            message says the closest one).
    """
    if (energy_budget is None) == (accuracy_floor is None):
        raise ValueError("give exactly one of energy_budget and accuracy_floor")
    if len(front) == 0:
        raise ValueError("the front is empty")
    if energy_budget is not None:
        ok = front.energy_ratio <= energy_budget
        if not ok.any():
            raise ValueError(
                f"no Pareto point has energy ratio <= {energy_budget}; the cheapest has "
                f"{float(front.energy_ratio.min()):.4f}"
            )
        score = torch.where(ok, front.accuracy, torch.full_like(front.accuracy, -1.0))
        best = score.max()
        # Among equally accurate points, the cheaper one.
        tied = (score == best).nonzero().flatten()
        return int(tied[front.energy_ratio[tied].argmin()])
    ok = front.accuracy >= accuracy_floor
    if not ok.any():
        raise ValueError(
            f"no Pareto point has accuracy >= {accuracy_floor}; the most accurate has "
            f"{float(front.accuracy.max()):.4f}"
        )
    cost = torch.where(ok, front.energy_ratio, torch.full_like(front.energy_ratio, float("inf")))
    return int(cost.argmin())
