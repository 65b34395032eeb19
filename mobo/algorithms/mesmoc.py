"""MESMOC: max-value entropy search for multi-objective BO with constraints [Belakaria2020c]_.

MESMO [Belakaria2019]_ extended to black-box constraints ``c_i(x) <= 0``, every objective and
every constraint with its own GP. Each iteration draws ``S`` functions from the posterior of
all ``m + k`` outputs (BoTorch's Matheron paths) and solves each sampled *constrained*
problem with NSGA-II, feasibility first (:mod:`mobo.algorithms._sampled_fronts`). In the
paper's form (``information="maxima"``), each sampled feasible front ``s`` gives ``y*_j^s``,
the maximum of objective ``j``, and ``s*_i^s``, the largest slack ``-c_i`` of constraint ``i``
over the front; the acquisition is MESMO's summand ``h(g) = g phi(g) / (2 Phi(g)) - log Phi(g)``
averaged over samples and summed over all ``m + k`` outputs, with ``g = (y* - mu(x)) / sigma(x)``
per objective and ``g = (s* + mu_c(x)) / sigma_c(x)`` per constraint, maximized only over the
points whose posterior means satisfy every constraint.

Where this library departs from the paper, and why (measurements:
``benchmarks/results/mesmoc_design.md``, ``benchmarks/results/mesmoc_information.md``):

By default (MESMO's ``"hypervolume"``; or ``"front"``) all ``m + k`` outputs are instead
truncated to boxes: the region that neither improves a sampled feasible front's hypervolume
nor is feasible (:func:`~mobo.algorithms.mesmo.with_constraints`). Over 5 seeds this reaches
0.973-0.994 of constrained qLogNEHVI's median feasible hypervolume (599.9 / 0.3658 / 10.99
against 603.7 / 0.3761 / 11.08 on BoTorch's three constrained problems, both with the GP
fitted cold, ``benchmarks/results/mobo_constrained.md``), against the maxima's 0.66-0.93. MESMO's
uncertainty guard is off by default here, as it measured mixed with constraints.

``feasibility="probability"`` with the box measures truncates the objectives alone to the
sampled feasible fronts' boxes and weighs that information by ``P(c(x) <= 0)``, as
expected improvement is weighed in constrained BO (``log I + sum_i log P(c_i <= 0)``). The
default's information is about ``-log P(c > 0)`` where the objectives surely improve, so it
is largest deep inside the feasible region: its late evaluations stop further from a
constraint boundary on which the front lies (median largest constraint value -0.24 to
-0.33 on ConstrainedBraninCurrin, against -0.10 to -0.13 for this variant and for
qLogNEHVI). Over 5 seeds it ends higher on ConstrainedBraninCurrin and DiscBrake (601.7 and
11.02 against 599.9 and 10.99; qLogNEHVI 603.7 and 11.08) and lower on C2DTLZ2 (12 inputs:
0.3576 against 0.3658), so it is not the default (``mesmoc_information.md``, "Information
times the probability of feasibility"). With ``require_improvement=True`` too (the
information only where the posterior mean would improve the observed feasible front) it came
closest to constrained qLogNEHVI, on one machine, 5 seeds: 602.7 / 0.3598 / 11.03 against
the default's 599.7 / 0.3592 / 10.98 and qLogNEHVI's 603.5 / 0.3787 / 11.07 (same
file, "Only means that improve the front"). In the maxima form only:

* ``y*_j^s`` is raised to the best *feasible* observation, and ``s*_i^s`` to the largest
  observed slack (``constraint_information="floored"``, default): the front's largest slack
  bounds nothing off the front, and taken literally (``"front"``, the paper) 9 of the first
  12 proposals were one deep-feasible point. ``"none"`` drops the constraints' summands.
* The paper returns a constant outside the feasible-mean region, which gives the gradient
  nothing to follow; here such a point scores ``-PENALTY - sum_i max(0, mu_ci / sd_i)``
  (``sd_i``: the observed spread of constraint ``i``), below every feasible-mean point yet
  pointing towards feasibility. ``feasibility="probability"`` instead adds
  ``sum_i log P(c_i(x) <= 0)`` to the information.
* ``require_improvement=True`` (default, not in the paper) also penalizes a point whose
  posterior mean the observed feasible front weakly dominates, as USeMO's
  ``candidate_filter="mean_improves"``: the maxima reward only each objective's extremes
  (ConstrainedBraninCurrin, seed 0: 340 -> 572 feasible hypervolume, measured with a
  stricter rule the code applied by mistake; 5 seeds of both rules in
  ``mesmoc_design.md``, "The improvement rule as documented").
* As in :mod:`mobo.algorithms.mesmo`: Matheron paths instead of random Fourier features,
  NSGA-II instead of 1500 platypus evaluations (a sample without a feasible point gives its
  least-violating one), and batches by kriging believer with a distance guard.

.. [Belakaria2020c] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization with Constraints. arXiv:2009.01721, 2020.
.. [Belakaria2019] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2019.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor

from mobo.algorithms._improvement import log_probability_feasible
from mobo.algorithms.mesmo import (
    MESMO,
    FrontInformation,
    MaxValueEntropyMOAcquisition,
    mesmo_information,
)
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem

#: What a point whose posterior mean violates a constraint loses (``feasibility="mean"``):
#: more than any information value, so every feasible-mean point ranks above it.
PENALTY = 1e3

#: How the acquisition weighs feasibility: with the paper's maxima, ``"mean"`` or
#: ``"probability"``; with the box measures, ``"boxes"`` or ``"probability"``.
FEASIBILITY_RULES = {"maxima": ("mean", "probability"), "boxes": ("boxes", "probability")}
CONSTRAINT_INFORMATION = ("floored", "front", "none")


def behind_front(front: Tensor, means: Tensor) -> Tensor:
    """How far each of ``means`` (``batch x m``) is behind the ``p x m`` ``front``: 0 where
    no front point weakly dominates it, else the margin of the point that does (every
    objective at least as good: min over objectives, max over front points; objectives are
    standardized, so the units are comparable) plus 1e-6, so a tie still counts."""
    if not front.shape[0]:
        return torch.zeros(means.shape[:-1], dtype=means.dtype)
    behind = (front - means[..., None, :]).min(dim=-1).values.max(dim=-1).values
    return torch.where(behind >= 0, behind + 1e-6, 0.0)


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
        front: An optional ``p x m`` tensor, the observed feasible Pareto front: a point
            whose posterior mean it weakly dominates is penalized like an infeasible one.
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
        front: Tensor | None = None,
    ) -> None:
        super().__init__(model, max_values, sigma_floor=sigma_floor)
        self.front = front
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
        violation = torch.zeros_like(information)
        if self.feasibility == "probability":
            information = information + log_probability_feasible(constraint_mean, sigma[..., m:])
        else:
            violation = (constraint_mean / self.constraint_scale).clamp_min(0.0).sum(dim=-1)
        if self.front is not None:
            violation = violation + behind_front(self.front, mean[..., :m])
        return torch.where(violation > 0, -PENALTY - violation, information)


class FeasibleFrontInformation(AcquisitionFunction):
    """``log I(x) + sum_i log P(c_i(x) <= 0)``: the information ``I`` that the objectives
    carry about the sampled feasible fronts (MES-LB over objective-only boxes), weighted by
    the probability of feasibility (``feasibility="probability"`` with the box measures).

    Args:
        model: The fitted ``m + k``-output model (objectives, then constraint values).
        boxes: The ``S x 2 x J x m`` objective-only boxes
            (:meth:`~mobo.algorithms.mesmo.MESMO.front_boxes` with ``constraints=False``).
        num_objectives: ``m``.
        X_pending: Pending points, as BoTorch's acquisitions take them.
    """

    def __init__(
        self,
        model: ModelListGP,
        boxes: Tensor,
        num_objectives: int,
        X_pending: Tensor | None = None,
    ):
        super().__init__(model=model)
        objectives = ModelListGP(*model.models[:num_objectives])
        self.information = FrontInformation(objectives, boxes, X_pending=X_pending)
        self.constraint_model = ModelListGP(*model.models[num_objectives:])

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        self.information.set_X_pending(X_pending)

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor; returns the ``batch`` tensor ``alpha(X)``."""
        posterior = self.constraint_model.posterior(X)
        mean = posterior.mean.squeeze(-2)
        sigma = posterior.variance.squeeze(-2).clamp_min(1e-18).sqrt()
        return self.information(X).clamp_min(1e-12).log() + log_probability_feasible(mean, sigma)


class ImprovingMeans(AcquisitionFunction):
    """``inner`` where the posterior mean would improve the observed feasible ``front``
    (inside the reference box, weakly dominated by no front point); elsewhere ``-PENALTY``
    minus how far the mean is from that (standardized units), so the optimizer is led back.
    The box measures' ``require_improvement`` (see :class:`MESMOC`)."""

    def __init__(
        self, inner: AcquisitionFunction, model: Model, front: Tensor, ref_point: Tensor
    ) -> None:
        super().__init__(model=model)
        self.inner, self.front, self.ref_point = inner, front, ref_point

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        self.inner.set_X_pending(X_pending)

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor; returns the ``batch`` tensor of values."""
        value = self.inner(X)
        objectives = self.model.posterior(X).mean[..., 0, : self.front.shape[-1]]
        violation = (self.ref_point - objectives).clamp_min(0.0).sum(dim=-1)
        violation = violation + behind_front(self.front, objectives)
        return torch.where(violation > 0, -PENALTY - violation, value)


@register
class MESMOC(MESMO):
    """MESMOC on the GP surrogate (objectives and constraints modelled alike).

    Args:
        problem: The problem to optimize (it may declare constraints; without any,
            MESMOC is MESMO with the improvement requirement).
        feasibility: With ``information="maxima"``: where the acquisition is maximized,
            ``"mean"`` (default, the paper) or ``"probability"``. With the box measures:
            ``"boxes"`` (default; the constraints inside the truncated region) or
            ``"probability"`` (the objectives' information times ``P(feasible)``). See
            the module docstring.
        constraint_information: The constraints' summands with the sampled slack maxima
            ``"floored"`` (default) at the largest observed slack, as ``"front"`` gives them
            (the paper), or ``"none"``.
        require_improvement: Penalize points whose posterior mean the observed feasible
            front weakly dominates (not in the paper; default True with the maxima; with
            the box measures default False, and it also penalizes means outside the
            reference box: :class:`ImprovingMeans`).
        guard: MESMO's uncertainty guard on the restarts; off by default here (measured
            mixed with constraints: ``benchmarks/results/mesmoc_information.md``).
        **options: :class:`~mobo.algorithms.mesmo.MESMO` options (``num_samples``,
            ``pop_size``, ``n_gen``, ``min_distance``, ``information``, ``n_initial``, ...).
            ``constraint_information`` shapes ``information="maxima"`` only: with
            ``"front"`` or ``"hypervolume"`` the sampled feasible fronts' boxes carry the
            constraints (feasible boxes bound each ``c <= 0``, ``k`` more cover the
            infeasible region: :func:`~mobo.algorithms.mesmo.with_constraints`), and setting
            it is an error.

    After each :meth:`propose`, ``last_max_values`` holds the ``S x (m + k)`` tensor of
    sampled maxima (objectives, then constraint slacks).
    """

    name = "mesmoc"
    supports_constraints = True
    #: The library's cold GP fit, not MESMO's warm one: it measured a little higher on all
    #: three constrained problems (``benchmarks/results/surrogate_warm_start.md``).
    surrogate_defaults = MappingProxyType({})

    def __init__(
        self,
        problem: Problem,
        *,
        feasibility: str | None = None,
        constraint_information: str | None = None,
        require_improvement: bool | None = None,
        guard: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(problem, guard=guard, **options)
        maxima_only = {"constraint_information": constraint_information}
        form = "maxima" if self.information == "maxima" else "boxes"
        if form == "boxes":
            given = [name for name, value in maxima_only.items() if value is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only for information='maxima'; with "
                    f"information={self.information!r} the constraints enter through the "
                    "sampled fronts' feasible boxes and the infeasible region's boxes "
                    "(or feasibility='probability')"
                )
        rules = FEASIBILITY_RULES[form]
        feasibility = rules[0] if feasibility is None else feasibility
        constraint_information = (
            "floored" if constraint_information is None else constraint_information
        )
        if require_improvement is None:  # measured defaults of each form
            require_improvement = form == "maxima"
        if feasibility not in rules:
            raise ValueError(
                f"feasibility must be one of {list(rules)} with "
                f"information={self.information!r}, got {feasibility!r}"
            )
        if constraint_information not in CONSTRAINT_INFORMATION:
            raise ValueError(
                f"constraint_information must be one of {list(CONSTRAINT_INFORMATION)}, "
                f"got {constraint_information!r}"
            )
        self.feasibility = feasibility
        self.constraint_information = constraint_information
        self.require_improvement = require_improvement
        self._front: Tensor | None = None
        self._constraint_scale: Tensor | float = 1.0

    def sample_max_values(self, model: ModelListGP, U: Tensor, Y: Tensor, seed: int) -> Tensor:
        """The ``S x (m + k)`` tensor of sampled maxima: per sampled feasible front, each
        objective's maximum (raised to the best feasible observation) and each constraint's
        largest slack ``-c``."""
        objectives, constraints = self.problem.split_outcomes(Y)
        feasible = (constraints <= 0).all(dim=-1)
        fronts = self.sampled_fronts(model, seed, initial=self.observed_front(U, Y)[0])
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
            front=self._front if self.require_improvement else None,
        )

    def front_information(
        self,
        model: ModelListGP,
        fronts: list[tuple[Tensor, Tensor]],
        observed: Tensor,
        U_pending: Tensor | None,
    ) -> AcquisitionFunction:
        """The box measures' acquisition; with ``feasibility="probability"`` the
        objectives' information times the probability of feasibility; with
        ``require_improvement``, only where the mean would improve the observed front."""
        if self.feasibility != "probability" or not self.problem.num_constraints:
            acqf = super().front_information(model, fronts, observed, U_pending)
        else:
            boxes = self.front_boxes(fronts, observed, constraints=False)
            acqf = FeasibleFrontInformation(
                model, boxes, self.problem.num_objectives, X_pending=U_pending
            )
        if not self.require_improvement:
            return acqf
        return ImprovingMeans(acqf, model, observed, self.ref_point)

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        _, self._front = self.observed_front(U, Y)
        constraints = self.problem.split_outcomes(Y)[1]
        if constraints.shape[0] > 1 and constraints.shape[1]:  # none: nothing to scale
            spread = constraints.std(dim=0, correction=0)
            self._constraint_scale = torch.where(spread > 0, spread, torch.ones_like(spread))
        return super().propose(q, U, Y, seed=seed, U_pending=U_pending)
