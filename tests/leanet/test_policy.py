"""The policy's rules on hand-made outcomes: the paired bound of ``--bound`` and the
accuracy floor of the plain rule."""

from __future__ import annotations

import math

import pytest
import torch

from leanet.policy import accuracy_change_bound


def _outcomes(n: int, wins: int, losses: int, reference_wrong: int = 6):
    """A point and a reference on ``n`` inputs: the reference is wrong on the first
    ``reference_wrong``; the point is right on ``wins`` of those and wrong on ``losses``
    inputs the reference gets right, and agrees with it elsewhere."""
    reference = torch.ones(n, dtype=torch.bool)
    reference[:reference_wrong] = False
    point = reference.clone()
    point[:wins] = True
    point[n - losses :] = False
    return point, reference


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("n", [100, 300, 833])
def test_one_more_win_never_lowers_the_bound(confidence, n):
    """A point right on one more input than the full network, and never worse, is at least
    as acceptable as one identical to it (the Wald bound refused it at N=300, 90%)."""
    same, reference = _outcomes(n, 0, 0)
    one_better, _ = _outcomes(n, 1, 0)
    identical = accuracy_change_bound(same, reference, confidence).item()
    assert identical == 0.0  # identical to the full network: acceptable at 0% loss
    assert accuracy_change_bound(one_better, reference, confidence).item() >= identical
    # Over a grid of wins, at each number of losses, more wins never lower the bound.
    for losses in (0, 1, 3, 10):
        points = torch.stack([_outcomes(n, b, losses, reference_wrong=20)[0] for b in range(21)])
        _, wide_reference = _outcomes(n, 0, 0, reference_wrong=20)
        bound = accuracy_change_bound(points, wide_reference, confidence)
        assert (bound[1:] >= bound[:-1]).all(), (losses, bound.tolist())


def test_bound_is_the_best_wald_bound_over_fewer_wins():
    """The value: the Wald bound's largest value over 0..b wins at the same losses."""
    n, z = 300, 1.6448536269514722  # 95%

    def wald(b, c):
        variance = (b + c - (b - c) ** 2 / n) / (n - 1)
        return (b - c) / n - z * math.sqrt(variance / n)

    for b, c in ((1, 0), (2, 0), (4, 0), (5, 0), (3, 2)):
        point, reference = _outcomes(n, b, c, reference_wrong=10)
        expected = max(wald(k, c) for k in range(b + 1))
        assert accuracy_change_bound(point, reference, 0.95).item() == pytest.approx(expected)
    # b=2, c=0: the Wald bound is -0.107 points (refused at 0%); now 0, as with no wins.
    assert wald(2, 0) == pytest.approx(-0.00107, abs=5e-6)
    point, reference = _outcomes(n, 2, 0)
    assert accuracy_change_bound(point, reference, 0.95).item() == 0.0
    # Enough wins: the Wald bound itself, above 0 (b=5: 5/300 - z*sqrt(...)).
    point, reference = _outcomes(n, 5, 0)
    assert accuracy_change_bound(point, reference, 0.95).item() == pytest.approx(wald(5, 0))
    assert wald(5, 0) > 0


def _front_at(accuracies, energies):
    """A hand-made front of one-threshold points with these float64 accuracies and energies."""
    from leanet.evaluator import ThresholdMetrics

    k = len(accuracies)
    energy = torch.tensor(energies, dtype=torch.float64)
    return ThresholdMetrics(
        torch.linspace(0.1, 0.9, k, dtype=torch.float64)[:, None],
        torch.tensor(accuracies, dtype=torch.float64),
        energy,
        energy,
        torch.full((k, 2), 0.5),
    )


def test_a_float32_accuracy_floor_keeps_the_point_at_it():
    """The usual ``(pred == y).float().mean()`` gives 294/300 as 0.98000002: the point at
    exactly 294/300 (as the evaluator computes it, in float64) still meets it."""
    from leanet.policy import cheapest_allowed, choose_thresholds

    front = _front_at([293 / 300, 294 / 300, 295 / 300], [0.2, 0.4, 0.7])
    full32 = torch.tensor(294 / 300, dtype=torch.float32)
    assert float(full32) > 294 / 300  # the float32 rounding the rule must absorb
    for full in (float(full32), full32):
        assert cheapest_allowed(front.accuracy, front.energy_ratio, full, (0.0, 1 / 300)) == [1, 0]
    assert choose_thresholds(front, accuracy_floor=float(full32)) == 1
    # The slack is far below one input: a point one input short is still refused.
    assert cheapest_allowed(front.accuracy, front.energy_ratio, 294 / 300, (0.0,)) == [1]
    assert choose_thresholds(front, accuracy_floor=295 / 300) == 2


@pytest.mark.parametrize("confidence", [None, 0.9])
def test_across_designs_a_point_no_cheaper_than_the_full_network_is_never_chosen(confidence):
    """`leanet design` recommended, at every loss, a design at energy ratio 1.244 as
    accurate as the full network ("saved -24.4%"): the full network itself (ratio 1, its
    own accuracy, bound 0) was no candidate, as the all-ones thresholds are for one design."""
    from types import SimpleNamespace

    from leanet.policy import cheapest_across

    n, full_accuracy = 300, 294 / 300
    full_correct = torch.arange(n) >= 6

    def point(energy, wrong=6):  # a design's point, wrong on the first `wrong` inputs
        correct = torch.arange(n) >= wrong
        return (
            SimpleNamespace(
                evaluate=lambda T: SimpleNamespace(
                    accuracy=correct.double().mean()[None], energy_ratio=torch.tensor([energy])
                ),
                correct_at=lambda T: correct[None],
            ),
            torch.zeros(1),
        )

    def choose(points):
        return cheapest_across(
            points, full_accuracy, confidence=confidence, full_correct=full_correct
        )

    assert choose([point(1.244)]) == [None, None, None]  # keep the full network
    assert choose([point(1.0)]) == [None, None, None]  # a tie is no saving either
    # A cheaper point is still chosen where it qualifies (one input short: from 1%).
    assert choose([point(1.244), point(0.6, wrong=7)]) == [None, 1, 1]
    assert choose([point(1.244), point(0.6, wrong=7), point(0.8)]) == [2, 1, 1]


def test_within_a_budget_the_cheaper_of_equally_accurate_points_is_chosen():
    """Two points as accurate within the budget: the cheaper runs (mutation sweep s76:
    taking the costlier of the tie passed every policy test)."""
    from leanet.policy import choose_thresholds

    front = _front_at([0.9, 0.95, 0.95, 0.97], [0.2, 0.3, 0.5, 0.9])
    assert choose_thresholds(front, energy_budget=0.6) == 1
    assert choose_thresholds(front, energy_budget=1.0) == 3
