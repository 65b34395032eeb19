"""MOMF: expected hypervolume improvement with a fidelity objective, per cost [Irshad2021]_.

BoTorch's multi-fidelity multi-objective baseline (``botorch.acquisition.multi_objective.
multi_fidelity.MOMF``), the baseline issue 16 names for MF-OSEMO and iMOCA: the fidelity
becomes an extra "trust" objective to maximize next to the problem's, qEHVI is taken over
the ``m + 1`` outcomes of every evaluation (all fidelities), and the improvement is divided
by the candidate's cost. A cheap evaluation can then add hypervolume only along the trust
axis's lower part, so the search climbs to the target where the objectives promise most.

Here: one GP per objective over ``(x, s)`` (mobo's surrogate, the fidelity an ordinary ARD
input, as MF-OSEMO's), the trust objective the fidelity over the target's (BoTorch's
tutorial's ``s`` for a fidelity in [0, 1]; 0.4 for 4 fine-tune epochs of 10; reference 0,
so the fidelity values must be >= 0: a trust of 0 at the lowest level would make its
evaluations worthless, as the unit-cube position would for 4 epochs of 4-10), the cost
the problem's :meth:`~mobo.Problem.cost` (differentiable where the fidelity is continuous,
so L-BFGS-B moves ``s`` too). A continuous fidelity is optimized with ``x`` (one it leaves
just below the target is put on it, :data:`~mobo.algorithms.base.TARGET_SNAP`); with discrete
levels the acquisition is maximized at each level and the best kept (as MF-OSEMO does):
optimized freely, ``s`` just below the midpoint between two levels priced at the lower one
but trusted almost as the upper one, and snapped to the lower level afterwards; so the
first version of this class, measured on VGG-16's design search, trained 9 of 10 designs
at the cheap fidelity. Batches are chosen point by point, earlier ones (and a study's
evaluations in flight) pending: BoTorch's MOMF then scores the pending points and the
candidate together, ``HVI(P + x) / (cost(P) + cost(x))``, by which a cheap candidate that adds
nothing outscored the best target one; here a candidate is scored by its own gain per its own
cost, ``(HVI(P + x) - HVI(P)) / cost(x)``, as the paper's ``q = 1`` choice
(:class:`MarginalGainPerCost`).

Black-box constraints as in :mod:`mobo.algorithms.qlognehvi`: a GP per constraint over
``(x, s)`` too, each posterior sample's improvement weighted by its feasibility, the
incumbent front that of the feasible evaluations (at every fidelity, with their trust); so
MOMF is also this library's constrained multi-fidelity search (MF-OSEMO refuses
constraints). Measured (``benchmarks/results/mobo_fidelity_constrained.md``:
ConstrainedBraninCurrin with a cheap fidelity that biases objectives and constraint, 5
seeds, cost budget 30): feasible hypervolume 597.8 (594.8 - 599.2) against constrained
qLogNEHVI's 590.4 (582.6 - 594.4) at the target only.

Measured (``benchmarks/results/mobo_fidelity_baselines.md`` and
``mobo_fidelity_continuous.md``: BraninCurrin with a cheap biased fidelity, 5 seeds, cost
budget 30): 57.1 (56.99 - 57.45) with discrete levels (``mobo_fidelity_momf_levels.md``),
against MF-OSEMO's 55.8 and single-fidelity qLogNEHVI's 56.44; 56.75 with a continuous
fidelity, against iMOCA's 55.86; 0.7-1.0 CPU s per iteration. In VGG-16's design search
(``design_search_mnist.md``, 5 seeds) it ends level with single-fidelity qLogNEHVI (median
test HV 0.0626 against 0.0620) and reaches that hypervolume no sooner. Its fidelity choice is
trust per cost: a cheap evaluation adds at most ``s / s_target`` of a target one's trust-
weighted improvement at ``cost(s) / cost(target)`` of its price, so where the price ratio
exceeds the trust ratio (the ConvNet's design search: 2 of 10 epochs at 3/11 of the price)
it chose the cheap fidelity for 4 of 51 designs (``design_search_mnist.md``).

.. [Irshad2021] F. Irshad, S. Karsch, A. Doepp. Expected hypervolume improvement for
   simultaneous multi-objective and multi-fidelity optimization. arXiv:2112.13901, 2021.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.multi_fidelity import MOMF as BoTorchMOMF
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor

from mobo.algorithms.bayesian import BayesianAlgorithm, constrained_mc_options
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem


def with_trust(samples: Tensor, X: Tensor, low: float, high: float, target: float) -> Tensor:
    """The objective samples with the trust outcome appended: the candidates' fidelity
    (unit-cube ``X[..., -1]`` mapped to ``[low, high]``) over the target fidelity, at most 1:
    bounds may reach past the target, whose cost a fidelity beyond it keeps, and a trust
    above 1 there drew the optimizer to the bound (the proposal then snapped back)."""
    trust = ((low + X[..., -1:] * (high - low)) / target).clamp_max(1.0)
    return torch.cat([samples, trust.expand(*samples.shape[:-1], 1).to(samples)], dim=-1)


class MarginalGainPerCost(AcquisitionFunction):
    """A candidate's own expected hypervolume gain per its own cost, from BoTorch's MOMF
    built with pending points ``P``, which returns ``HVI(P + x) / (cost(P) + cost(x))``.

    Args:
        joint: The MOMF acquisition with ``X_pending=P``.
        alone: The same acquisition without pending points (prices ``HVI(P)``).
        pending: The ``p x d`` pending points.
        cost: The unit-cube cost of ``batch x q x d`` candidates, ``batch x q x 1``.
    """

    def __init__(self, joint: BoTorchMOMF, alone: BoTorchMOMF, pending: Tensor, cost) -> None:
        super().__init__(model=joint.model)
        self.joint, self.cost = joint, cost
        with torch.no_grad():
            self.pending_cost = float(cost(pending.unsqueeze(0)).sum())
            self.pending_gain = float(alone(pending.unsqueeze(0))) * self.pending_cost

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        own = self.cost(X).sum(dim=(-2, -1))
        return (self.joint(X) * (self.pending_cost + own) - self.pending_gain) / own


@register
class MOMF(BayesianAlgorithm):
    """BoTorch's MOMF on the GP surrogate; batches are optimized sequentially-greedily.

    Args:
        problem: A problem with fidelities (discrete or continuous).
        **options: :class:`~mobo.algorithms.bayesian.BayesianAlgorithm` options.
    """

    name = "momf"
    min_objectives = 2
    supports_fidelities = True
    needs_fidelities = True
    supports_constraints = True

    def __init__(self, problem: Problem, **options: Any) -> None:
        super().__init__(problem, **options)  # refuses a problem without fidelities
        if float(problem.fidelity_levels[0]) < 0:
            raise ValueError(
                f"algorithm 'momf' needs fidelity values >= 0 (its trust objective is the "
                f"fidelity over the target's), got levels {problem.fidelity_levels.tolist()}"
            )
        low, high = problem.bounds[:, -1].tolist()
        self.trust = {"low": low, "high": high, "target": float(problem.fidelity_levels[-1])}
        #: The unit-cube fidelities at which the acquisition is maximized; ``[None]``: a
        #: continuous fidelity, optimized with ``x``.
        self.levels: list[float | None] = [None]
        if not problem.fidelity_continuous:
            self.levels = problem.fidelity_to_unit(problem.fidelity_levels).tolist()

    def unit_cost(self, U: Tensor) -> Tensor:
        """The cost of unit-cube candidates ``batch x q x d``, as ``batch x q x 1``."""
        flat = U.reshape(-1, U.shape[-1])
        cost = self.problem.cost(self.problem.from_unit(flat))
        return cost.reshape(*U.shape[:-1], 1)

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        m, k = len(self.ref_point), self.problem.num_constraints
        ref_point = torch.cat([self.ref_point, torch.zeros(1, dtype=DTYPE)])
        feasible = (Y[:, m:] <= 0).all(dim=-1)  # (all rows without constraints)
        outcomes = with_trust(Y[feasible, :m], U[feasible], **self.trust)
        partitioning = FastNondominatedPartitioning(ref_point=ref_point, Y=outcomes)
        objective = GenericMCMultiOutputObjective(
            lambda samples, X=None: with_trust(samples[..., :m], X, **self.trust)
        )
        # Constraints as in qLogNEHVI: each sample's improvement weighted by its feasibility.
        constraints = constrained_mc_options(m, k).get("constraints")

        def momf(pending: Tensor | None) -> BoTorchMOMF:
            return BoTorchMOMF(
                model=model,
                ref_point=ref_point.tolist(),
                partitioning=partitioning,
                sampler=SobolQMCNormalSampler(
                    sample_shape=torch.Size([self.mc_samples]), seed=seed
                ),
                objective=objective,
                constraints=constraints,
                X_pending=pending,
                cost_call=self.unit_cost,
            )

        chosen: list[Tensor] = []
        for _ in range(q):
            pending = [P for P in (U_pending, *chosen) if P is not None]
            if pending:
                P = torch.cat(pending)
                acqf = MarginalGainPerCost(momf(P), momf(None), P, self.unit_cost)
            else:
                acqf = momf(None)
            best, best_value = None, -math.inf
            for level in self.levels:
                fixed = None if level is None else {U.shape[1] - 1: level}
                candidate = self.maximize(acqf, 1, fixed_features=fixed)
                with torch.no_grad():
                    value = float(acqf(candidate.unsqueeze(0)))
                if best is None or value > best_value:  # (a NaN value never wins)
                    best, best_value = candidate, value
            chosen.append(best)
        return torch.cat(chosen)
