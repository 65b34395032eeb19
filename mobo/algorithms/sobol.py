"""Space-filling baselines: scrambled Sobol and uniform random search.

Neither looks at the observations, so black-box constraints change nothing in what they
propose: they accept constrained problems, whose results count only the feasible points.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mobo.algorithms.base import Algorithm
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem


@register
class Sobol(Algorithm):
    """Successive points of one scrambled Sobol sequence (seeded by the study)."""

    name = "sobol"
    supports_constraints = True

    def __init__(self, problem: Problem, *, n_initial: int | None = None) -> None:
        # ``n_initial`` is accepted so every algorithm takes it; Sobol has no later phase.
        super().__init__(problem, n_initial=n_initial)
        # The whole study is the base class's initial-design sequence, indexed by the
        # number of evaluations made, so failures never repeat a point.
        self.n_initial = 2**62

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        raise AssertionError("unreachable: every Sobol point comes from the initial design")


@register
class RandomSearch(Algorithm):
    """Independent uniform points in the box."""

    name = "random"
    uses_initial_design = False
    supports_constraints = True

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(q, self.problem.dim, generator=generator, dtype=DTYPE)
