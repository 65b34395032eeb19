"""Synthetic multi-fidelity problems: a test problem with cheap, biased lower fidelities.

As in the MF-OSEMO experiments [Belakaria2020m]_, a lower fidelity is the same function plus
a smooth bias that grows as the fidelity falls, at a fraction of the cost. Here, for any
:mod:`mobo.problems` test problem ``f`` (maximized) on inputs ``x`` and a fidelity ``s`` in
``[0, 1]`` (the last input; the target is ``s = 1``):

    f_j(x, s) = f_j(x) + bias * (1 - s) * scale_j * sin(2 pi w_j . u + phi_j),

with ``u`` the point in the unit cube, ``scale_j`` the spread (standard deviation) of
objective ``j`` over 256 Sobol points, and fixed directions ``w_j`` and phases ``phi_j``, so
the bias moves the low-fidelity optimum and a search must check it at the target. A
constrained test problem's constraint values ``c_i(x) <= 0`` get such a bias too (a cheap
evaluation misjudges feasibility as it misjudges the objectives), so a constrained
multi-fidelity search must also check feasibility at the target.

.. [Belakaria2020m] S. Belakaria, A. Deshwal, J. R. Doppa. Multi-Fidelity Multi-Objective
   Bayesian Optimization: An Output Space Entropy Search Approach. AAAI 2020.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mobo.problem import DTYPE, Problem

#: Seeds of the bias's directions and phases, and of the Sobol points its scale is
#: measured on: part of the problem (its fingerprint).
BIAS_SEED, SCALE_SEED = 1234, 0


class BiasedFidelityProblem(Problem):
    """A test problem with a fidelity input appended (see the module docstring).

    Args:
        name: A :mod:`mobo.problems` name, e.g. ``"BraninCurrin"`` or, with constraints,
            ``"ConstrainedBraninCurrin"``.
        levels: Fidelity levels in ``[0, 1]``, ascending, ending at the target ``1.0``.
        costs: Cost of one evaluation at each level.
        bias: Size of the bias at fidelity 0, in units of each objective's spread.
        continuous: Whether the fidelity may take any value from ``levels[0]`` to 1 (the
            levels then the knots of a piecewise-linear cost; see :class:`mobo.Problem`).
        **kwargs: Size arguments of the test problem.
    """

    def __init__(
        self,
        name: str = "BraninCurrin",
        *,
        levels: Sequence[float] = (0.25, 1.0),
        costs: Sequence[float] = (0.1, 1.0),
        bias: float = 0.5,
        continuous: bool = False,
        **kwargs: Any,
    ) -> None:
        from mobo.problems import make

        base = make(name, **kwargs)
        if not levels or float(levels[-1]) != 1.0:
            raise ValueError(f"levels must end at the target fidelity 1.0, got {list(levels)}")
        self.base, self.bias = base, float(bias)
        d, m = base.dim, base.num_objectives
        outcomes = base.num_outcomes  # objectives, then constraints
        generator = torch.Generator().manual_seed(BIAS_SEED)  # the bias is part of the problem
        self._directions = torch.randn(outcomes, d, generator=generator, dtype=DTYPE)
        self._phases = 2 * math.pi * torch.rand(outcomes, generator=generator, dtype=DTYPE)
        sample = torch.quasirandom.SobolEngine(d, scramble=True, seed=SCALE_SEED).draw(
            256, dtype=DTYPE
        )
        # Of the noiseless values: sized on noisy ones, the bias, and with it every
        # low-fidelity value, moved with the noise (objective 1: 2.66 noiseless, 10.3 and 11.1
        # with noise 10, seeds 0 and 1).
        points = base.from_unit(sample)
        true = base.evaluate_true(points)
        self._scale = (base.evaluate(points) if true is None else true).std(dim=0)
        bounds = torch.cat([base.bounds, torch.tensor([[0.0], [1.0]], dtype=DTYPE)], dim=-1)
        super().__init__(
            bounds,
            m,
            base.ref_point,
            max_hv=base.max_hv,
            objective_names=base.objective_names,
            senses=base.senses,
            num_constraints=base.num_constraints,
            constraint_names=base.constraint_names,
            name=f"{name}MF" + ("c" if continuous else ""),
            fidelity_levels=levels,
            fidelity_costs=costs,
            fidelity_continuous=continuous,
        )

    def _evaluate(self, X: Tensor) -> Tensor:
        return self.base.evaluate(X[:, :-1]) + self._bias(X)

    #: Bump whenever fingerprint() computes differently (see mobo.Problem).
    fingerprint_version = 1

    def fingerprint(self) -> str:
        """The base problem's fingerprint (its noise), the bias and its seeds: a journal
        with another ``bias`` or base noise is refused, not resumed as one black box; and a
        noisy one from when the bias was sized on noisy values (``scale=noiseless`` since)."""
        fingerprint = f"{self.base.fingerprint()} bias={self.bias!r} seeds={BIAS_SEED},{SCALE_SEED}"
        return fingerprint + (" scale=noiseless" if self.base.noise_std is not None else "")

    def evaluate_true(self, X: Tensor) -> Tensor | None:
        """The outcomes without the base problem's noise, with the same bias (None if
        the base has no noise)."""
        true = self.base.evaluate_true(X[:, :-1])
        return None if true is None else true + self._bias(X)

    def _bias(self, X: Tensor) -> Tensor:
        u, s = self.base.to_unit(X[:, :-1]), X[:, -1:]
        wave = torch.sin(2 * math.pi * u @ self._directions.T + self._phases)
        return self.bias * (1 - s) * self._scale * wave
