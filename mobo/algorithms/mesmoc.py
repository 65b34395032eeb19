"""MESMOC: max-value entropy search for multi-objective BO with constraints [Belakaria2020c]_.

MESMO [Belakaria2019]_ extended to black-box constraints ``c_i(x) <= 0``. Every objective and
every constraint has its own GP. Each iteration:

1. Draw ``S`` functions from the posterior of all ``m + k`` outputs (BoTorch's Matheron
   paths) and solve each sampled *constrained* problem with NSGA-II, which handles the
   sampled constraints feasibility-first (:mod:`mobo.algorithms._sampled_fronts`).
2. From each sampled feasible front ``s`` take ``y*_j^s``, the maximum of objective ``j``, and
   ``s*_i^s``, the maximum over the front of constraint ``i``'s slack ``-c_i`` (the paper
   writes constraints as ``C_i(x) >= 0``, so its "max of constraint ``i`` over the front" is
   this slack).
3. The acquisition is MESMO's summand over all ``m + k`` outputs: with
   ``g = (y* - mu(x)) / sigma(x)`` per objective and ``g = (s* + mu_c(x)) / sigma_c(x)`` per
   constraint (the slack's mean is ``-mu_c``),

       alpha(x) = (1/S) sum_s [ sum_j h(g_j^s) + sum_i h(g_i^s) ],
       h(g) = g phi(g) / (2 Phi(g)) - log Phi(g),

   maximized only over the points whose posterior means satisfy every constraint (the
   paper's search space); elsewhere the acquisition is replaced by a penalty.

Where ours differs from the paper and the authors' code, and why:

* Posterior samples are Matheron paths of the fitted GPs instead of random Fourier
  features, and the sampled problems are solved with pymoo's NSGA-II (population 50, 40
  generations, first population seeded with the observed feasible Pareto set) instead of
  1500 platypus evaluations: the same machinery as :mod:`mobo.algorithms.mesmo`, so the two
  algorithms differ only in the constraints.
* ``y*_j^s`` is raised to at least the best *feasible* observation of objective ``j`` (as
  MESMO raises it to the best observation, see there), because a sampled feasible front that
  interpolates the data cannot lie below it. An infeasible observation does not raise it.
* When a sampled problem has no feasible point in the final population, its least-violating
  point stands in for the front (the paper does not say).
* The paper restricts the acquisition to points whose posterior means are feasible by
  returning a constant elsewhere, which gives the gradient optimizer nothing to follow; here
  an infeasible-mean point scores ``-PENALTY - sum_i max(0, mu_ci / sd_i)`` (``sd_i``: the
  observed spread of constraint ``i``), which ranks it below every feasible-mean point and
  still points towards feasibility, so the search moves into the feasible region while none
  of the candidates is feasible yet. ``feasibility="probability"`` instead adds
  ``sum_i log P(c_i(x) <= 0)`` to the information (a smooth weighting common in constrained
  BO), an option measured in ``benchmarks/results/mobo_constrained.md``.
* The acquisition is maximized with ``botorch.optim.optimize_acqf`` (multi-start L-BFGS-B),
  batches and pending points by kriging believer with a distance guard, as in MESMO.

.. [Belakaria2020c] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization with Constraints. arXiv:2009.01721, 2020.
.. [Belakaria2019] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2019.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor
from torch.special import log_ndtr

from mobo.algorithms.base import register
from mobo.algorithms.mesmo import MESMO, MaxValueEntropyMOAcquisition, mesmo_information
from mobo.problem import DTYPE, Problem

#: What a point whose posterior mean violates a constraint loses (``feasibility="mean"``):
#: more than any information value, so every feasible-mean point ranks above it.
PENALTY = 1e3

FEASIBILITY_RULES = ("mean", "probability")
CONSTRAINT_INFORMATION = ("floored", "front", "none")


class ConstrainedMaxValueEntropyAcquisition(MaxValueEntropyMOAcquisition):
    """MESMOC's acquisition for fixed sampled maxima (analytic, ``q = 1``).

    Args:
        model: A fitted model with ``m + k`` outputs: objectives, then constraint values.
        num_constraints: ``k``.
        max_values: An ``S x (m + k)`` tensor: the sampled objective maxima ``y*``, then
            the sampled constraint slack maxima ``s*`` (slack ``= -c``).
        sigma_floor: An ``m + k`` tensor (or scalar) lower bound on the posterior ``sigma``.
        constraint_scale: A ``k`` tensor: the scale of each constraint's penalty.
        feasibility: ``"mean"`` (the paper: only feasible posterior means) or
            ``"probability"`` (add the log probability of feasibility).
        constraint_information: Whether the constraints' summands count (the paper) or
            only the objectives' (the constraints then act only through ``feasibility``).
    """

    def __init__(
        self,
        model: Model,
        num_constraints: int,
        max_values: Tensor,
        *,
        sigma_floor: Tensor | float = 1e-12,
        constraint_scale: Tensor | float = 1.0,
        feasibility: str = "mean",
        constraint_information: bool = True,
    ) -> None:
        super().__init__(model, max_values, sigma_floor=sigma_floor)
        self.num_constraints = num_constraints
        self.feasibility = feasibility
        self.constraint_information = constraint_information
        self.register_buffer("constraint_scale", torch.as_tensor(constraint_scale, dtype=DTYPE))

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor; returns the ``batch`` tensor ``alpha(X)``."""
        mean, sigma = self.mean_and_sigma(X)
        m = mean.shape[-1] - self.num_constraints
        constraint_mean = mean[..., m:]
        # A constraint enters as its slack -c (feasible >= 0), whose maximum is sampled.
        slack_mean = torch.cat([mean[..., :m], -constraint_mean], dim=-1)
        outputs = slice(None) if self.constraint_information else slice(0, m)
        information = mesmo_information(
            slack_mean[..., outputs], sigma[..., outputs], self.max_values[..., outputs]
        )
        if self.feasibility == "probability":
            log_feasible = log_ndtr(-constraint_mean / sigma[..., m:])
            return information + log_feasible.sum(dim=-1)
        violation = (constraint_mean / self.constraint_scale).clamp_min(0.0).sum(dim=-1)
        return torch.where(violation > 0, -PENALTY - violation, information)


@register
class MESMOC(MESMO):
    """MESMOC on the GP surrogate (objectives and constraints modelled alike).

    Args:
        problem: The problem to optimize (it may declare constraints; without any MESMOC
            is MESMO).
        feasibility: Where the acquisition is maximized: ``"mean"`` (default, the paper)
            or ``"probability"`` (see the module docstring).
        **options: :class:`~mobo.algorithms.mesmo.MESMO` options (``num_samples``,
            ``pop_size``, ``n_gen``, ``min_distance``, ``n_initial``, ...).

    After each :meth:`propose`, ``last_max_values`` holds the ``S x (m + k)`` tensor of
    sampled maxima (objectives, then constraint slacks).
    """

    name = "mesmoc"
    supports_constraints = True

    def __init__(
        self,
        problem: Problem,
        *,
        feasibility: str = "mean",
        constraint_information: str = "floored",
        **options: Any,
    ) -> None:
        super().__init__(problem, **options)
        if feasibility not in FEASIBILITY_RULES:
            raise ValueError(
                f"feasibility must be one of {list(FEASIBILITY_RULES)}, got {feasibility!r}"
            )
        if constraint_information not in CONSTRAINT_INFORMATION:
            raise ValueError(
                f"constraint_information must be one of {list(CONSTRAINT_INFORMATION)}, "
                f"got {constraint_information!r}"
            )
        self.feasibility = feasibility
        self.constraint_information = constraint_information
        self._constraint_scale: Tensor | float = 1.0

    def sample_max_values(self, model: ModelListGP, U: Tensor, Y: Tensor, seed: int) -> Tensor:
        """The ``S x (m + k)`` tensor of sampled maxima: per sampled feasible front, each
        objective's maximum (raised to the best feasible observation) and each constraint's
        largest slack ``-c``."""
        objectives, constraints = self.problem.split_outcomes(Y)
        feasible = (constraints <= 0).all(dim=-1)
        initial = U[feasible][is_non_dominated(objectives[feasible])] if feasible.any() else None
        fronts = self.sampled_fronts(model, seed, initial=initial)
        m = self.problem.num_objectives
        front_max = torch.stack(
            [
                torch.cat([F[:, :m].max(dim=0).values, (-F[:, m:]).max(dim=0).values])
                for _, F in fronts
            ]
        )
        if feasible.any():
            best = objectives[feasible].max(dim=0).values
            front_max[:, :m] = torch.maximum(front_max[:, :m], best)
        if self.constraint_information == "floored" and constraints.shape[0]:
            front_max[:, m:] = torch.maximum(front_max[:, m:], (-constraints).max(dim=0).values)
        return front_max

    def acquisition(
        self, model: ModelListGP, max_values: Tensor, sigma_floor: Tensor
    ) -> AcquisitionFunction:
        return ConstrainedMaxValueEntropyAcquisition(
            model,
            self.problem.num_constraints,
            max_values,
            sigma_floor=sigma_floor,
            constraint_scale=self._constraint_scale,
            feasibility=self.feasibility,
            constraint_information=self.constraint_information != "none",
        )

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        constraints = self.problem.split_outcomes(Y)[1]
        if constraints.shape[0] > 1:
            spread = constraints.std(dim=0, correction=0)
            self._constraint_scale = torch.where(spread > 0, spread, torch.ones_like(spread))
        return super().propose(q, U, Y, seed=seed, U_pending=U_pending)
