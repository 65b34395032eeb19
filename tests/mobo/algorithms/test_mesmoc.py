"""MESMOC's formulas value by value: the probability of feasibility, the sampled maxima and
the acquisition, each against the paper's formula written out here (mutation sweep s74)."""

from __future__ import annotations

import torch

from mobo.algorithms._improvement import log_probability_feasible
from mobo.algorithms.mesmoc import behind_front

D = torch.float64
normal = torch.distributions.Normal(torch.tensor(0.0, dtype=D), torch.tensor(1.0, dtype=D))


def test_log_probability_feasible_sums_every_constraints_log_probability():
    # k = 2 constraints: log P(c_1 <= 0) + log P(c_2 <= 0), each Phi(-mu / sigma).
    mean = torch.tensor([[-1.0, 0.5], [2.0, -0.3], [0.0, 0.0]], dtype=D)
    sigma = torch.tensor([[0.5, 2.0], [1.0, 0.1], [1.0, 3.0]], dtype=D)
    expected = normal.cdf(-mean / sigma).log().sum(dim=-1)
    torch.testing.assert_close(log_probability_feasible(mean, sigma), expected)
    # A probability, falling as either constraint's mean rises.
    means = torch.linspace(-3.0, 3.0, 13, dtype=D)
    grid = torch.stack([means, torch.full_like(means, 0.2)], dim=-1)
    p = log_probability_feasible(grid, torch.ones_like(grid)).exp()
    assert ((p > 0) & (p < 1)).all() and (p.diff() < 0).all()


def test_a_mean_tied_with_a_front_point_counts_as_behind_it():
    # "plus 1e-6, so a tie still counts": a mean equal to a front point, or equal in one
    # objective and worse in the other, is weakly dominated; one better anywhere is not.
    front = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=D)
    means = torch.tensor([[1.0, 2.0], [0.5, 2.0], [1.0, 2.5], [2.0, 1.0]], dtype=D)
    torch.testing.assert_close(
        behind_front(front, means), torch.tensor([1e-6, 1e-6, 0.0, 0.0], dtype=D)
    )
    assert behind_front(front[:0], means).eq(0).all()
