"""MESMO: max-value entropy search for multi-objective BO, original form [Belakaria2019]_.

The acquisition is the information that ``f(x)`` carries about the Pareto front, with the
front summarized per sample by its per-objective maxima ``y*_j^s``:

    alpha(x) = (1/S) sum_s sum_j [ g phi(g) / (2 Phi(g)) - log Phi(g) ],
    g = (y*_j^s - mu_j(x)) / sigma_j(x),

the entropy of the Gaussian predictive of each objective minus that of the same Gaussian
truncated above at ``y*_j^s``. The ``S`` fronts come from posterior function samples
(BoTorch's Matheron paths), each solved with pymoo's NSGA-II. (BoTorch removed its MESMO in
0.17; its ``qLowerBoundMultiObjectiveMaxValueEntropySearch``, MES-LB [Tu2022]_, remains.)

Where this library departs from the paper, and why (measurements:
``benchmarks/results/mesmo_design.md``):

* ``information``: ``"maxima"`` (the paper) truncates to the single box ``f <= y*^s``, which
  rewards each objective's extreme, so the search spends its budget at the ends of the
  front; ``"front"`` to the whole region the sampled front dominates (a union of boxes,
  MES-LB); ``"hypervolume"`` (default) only to what does not improve the sampled front's
  hypervolume from the reference point (:func:`hypervolume_boxes`). The default beats the
  maxima on all four problems of the suite (BraninCurrin 0.58 vs 1.52 median log10
  hypervolume difference, ``benchmarks/results/mesmo_information.md``).
* Each sampled front is merged with the observed Pareto front, and ``y*_j^s`` raised to the
  best observation: a sample that interpolates the data is not dominated by it.
* The box measures' restarts start from the best Sobol points *and* the sampled Pareto sets
  (:meth:`~mobo.algorithms.bayesian.BayesianAlgorithm.maximize_from`): the information is
  nearly flat away from those sets, and Sobol starts alone often ended on the cube's faces.
* ``guard=True`` keeps a restart's end only if it is no more uncertain than its start
  (USeMO's test, :meth:`~mobo.algorithms.bayesian.BayesianAlgorithm.guarded_ascent`): on
  DTLZ2 the ascents ended on faces where the GP is optimistic (-0.466 -> -0.819). Off in MESMOC.
* ``S = 1`` by default: the NSGA-II runs are most of an iteration's cost, and more samples
  gave no better hypervolume.
* ``log Phi`` is ``log_ndtr`` and ``phi / Phi`` is ``exp(log phi - log Phi)``; ``sigma_j`` is
  floored at ``1e-9`` times the objective's observed range (plus 1e-12).
* ``"maxima"`` batches and pending points: a kriging believer (each point added to the GP at
  its posterior mean), which alone can pick the same point twice where ``mu_j(x) > y*_j^s``,
  so the best restart end at least ``min_distance`` from the earlier and pending points is
  taken (USeMO's distance guard; else a uniform point).

.. [Belakaria2019] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2019.
.. [Tu2022] B. Tu, A. Gandy, N. Kantas, B. Shafei. Joint Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2022.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.max_value_entropy_search import (
    qLowerBoundMultiObjectiveMaxValueEntropySearch,
)
from botorch.acquisition.multi_objective.utils import compute_sample_box_decomposition
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.utils.multi_objective.box_decompositions.box_decomposition_list import (
    BoxDecompositionList,
)
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor
from torch.special import log_ndtr

from mobo.algorithms._sampled_fronts import fill_distinct, sampled_pareto_sets, select_distinct
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.algorithms.registry import register
from mobo.metrics import feasible_mask
from mobo.problem import DTYPE, Problem
from mobo.surrogate import WARM_FIT

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Below this standardized gap MESMO's summand is computed from its asymptotic series.
_TAIL = -30.0

#: What a sampled front tells the acquisition: its per-objective maxima (the paper), the
#: whole region it dominates, or only the part of it that hypervolume counts (see the
#: module docstring).
INFORMATION = ("maxima", "front", "hypervolume")

#: "Unbounded" box side, as BoTorch's ``compute_sample_box_decomposition`` writes it.
_FAR = 1e10


def _first_crossing(threshold: Tensor, *, above: bool) -> Tensor:
    """``2 x n x n`` disjoint boxes whose union is "some coordinate ``i`` lies beyond
    ``threshold_i``" (beyond: above it if ``above``, else below): box ``i`` holds the points
    whose coordinates before ``i`` are not beyond and whose coordinate ``i`` is."""
    n = threshold.shape[0]
    lower = torch.full((n, n), -_FAR).to(threshold)
    upper = torch.full((n, n), _FAR).to(threshold)
    for i in range(n):
        if above:
            upper[i, :i], lower[i, i] = threshold[:i], threshold[i]
        else:
            lower[i, :i], upper[i, i] = threshold[:i], threshold[i]
    return torch.stack([lower, upper])


def with_constraints(boxes: Tensor, num_constraints: int) -> Tensor:
    """Objective boxes (``S x 2 x J x m``) of a feasible region, extended to ``k``
    constraints: each box with every ``c_i <= 0``, plus ``k`` disjoint boxes covering the
    whole infeasible region (some ``c_i > 0``, any objective values). BoTorch's
    ``compute_sample_box_decomposition`` adds one box where *every* constraint is violated,
    which leaves points violating only some of them outside all boxes, that is, counted
    as improving the front; exact for ``k = 1`` only."""
    if not num_constraints:
        return boxes
    S, _, J, m = boxes.shape
    k = num_constraints
    feasible = torch.zeros(S, 2, J, k).to(boxes)
    feasible[:, 0] = -_FAR
    infeasible = torch.cat(
        [
            torch.stack([torch.full((k, m), -_FAR), torch.full((k, m), _FAR)]).to(boxes),
            _first_crossing(torch.zeros(k).to(boxes), above=True),
        ],
        dim=-1,
    )  # 2 x k x (m + k)
    return torch.cat(
        [torch.cat([boxes, feasible], dim=-1), infeasible.expand(S, 2, k, m + k)], dim=-2
    )


def hypervolume_boxes(fronts: Tensor, ref_point: Tensor) -> Tensor:
    """Disjoint boxes covering what does *not* improve a front's hypervolume: the region
    the front dominates above ``ref_point``, and every point that fails to dominate
    ``ref_point``. Truncating the predictive to this union is learning the front where the
    hypervolume measures it (``information="hypervolume"``).

    Args:
        fronts: An ``S x P x m`` tensor of sampled fronts (maximized).
        ref_point: The ``m`` reference point.

    Returns:
        An ``S x 2 x J x m`` tensor of lower and upper box corners.
    """
    S, _, m = fronts.shape
    ref = ref_point.to(fronts)
    dominated = BoxDecompositionList(
        *[DominatedPartitioning(ref_point=ref, Y=F) for F in fronts]
    ).get_hypercell_bounds()  # 2 x S x J x m, padded with empty boxes
    outside = _first_crossing(ref, above=False).unsqueeze(1).expand(2, S, m, m)
    return torch.cat([dominated, outside], dim=-2).movedim(0, 1)


def mesmo_information(mean: Tensor, sigma: Tensor, max_values: Tensor) -> Tensor:
    """The MESMO summand averaged over samples and summed over objectives.

    Args:
        mean: A ``batch x m`` tensor of posterior means ``mu_j(x)``.
        sigma: A ``batch x m`` tensor of posterior standard deviations (positive).
        max_values: An ``S x m`` tensor of sampled front maxima ``y*_j^s``.

    Returns:
        A ``batch`` tensor: ``(1/S) sum_s sum_j [g phi(g) / (2 Phi(g)) - log Phi(g)]``.
    """
    g = (max_values - mean.unsqueeze(-2)) / sigma.unsqueeze(-2)  # batch x S x m
    return mesmo_summand(g).sum(dim=-1).mean(dim=-1)


def mesmo_summand(g: Tensor) -> Tensor:
    """``h(g) = g phi(g) / (2 Phi(g)) - log Phi(g)`` [Belakaria2019]_ Eq. 9, also far in the
    lower tail: below ``g = -30`` the two terms (each about ``g^2 / 2``) cancel every digit
    (h(-1e9) came out +5e17 where it is 21.1), so there
    ``h = g (lambda + g) / 2 + log sqrt(2 pi) + log lambda`` with the inverse Mills ratio
    ``lambda = phi(g) / Phi(g)`` and ``lambda + g = 1/t - 2/t^3 + 10/t^5 - 74/t^7`` (``t = -g``,
    its asymptotic series; relative error below 1e-10 there)."""
    tail = g < _TAIL
    near = g.clamp_min(_TAIL)  # each branch on inputs it is exact for (no NaN gradients)
    log_cdf = log_ndtr(near)
    log_pdf = -0.5 * near**2 - _LOG_SQRT_2PI
    body = 0.5 * near * torch.exp(log_pdf - log_cdf) - log_cdf
    far = g.clamp_max(_TAIL)
    inv = -1.0 / far
    excess = inv - 2 * inv**3 + 10 * inv**5 - 74 * inv**7  # lambda + g
    asymptote = 0.5 * far * excess + _LOG_SQRT_2PI + torch.log(excess - far)
    return torch.where(tail, asymptote, body)


class MaxValueEntropyMOAcquisition(AcquisitionFunction):
    """MESMO's acquisition ``alpha(x)`` for fixed sampled maxima (analytic, ``q = 1``).

    Args:
        model: A fitted model with ``m`` outputs (its posterior is of ``f``, not ``y``).
        max_values: An ``S x m`` tensor of sampled front maxima ``y*_j^s``.
        sigma_floor: An ``m`` tensor (or scalar) lower bound on ``sigma_j``.
    """

    def __init__(
        self, model: Model, max_values: Tensor, *, sigma_floor: Tensor | float = 1e-12
    ) -> None:
        super().__init__(model=model)
        self.register_buffer("max_values", max_values.to(DTYPE))
        self.register_buffer("sigma_floor", torch.as_tensor(sigma_floor, dtype=DTYPE))

    def mean_and_sigma(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``X``: a ``batch x 1 x d`` tensor; returns the ``batch x m`` posterior means and
        standard deviations (floored)."""
        posterior = self.model.posterior(X)
        sigma = posterior.variance.squeeze(-2).clamp_min(0.0).sqrt()
        return posterior.mean.squeeze(-2), torch.maximum(sigma, self.sigma_floor)

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor; returns the ``batch`` tensor ``alpha(X)``."""
        return mesmo_information(*self.mean_and_sigma(X), self.max_values)


class FrontInformation(qLowerBoundMultiObjectiveMaxValueEntropySearch):
    """BoTorch's MES-LB ("LB", [Tu2022]_) over the boxes of :meth:`MESMO.front_boxes`,
    falling back to its diagonal estimate ("LB2") at points where the moment-matched
    covariance of the truncated predictive is numerically not positive definite (its
    log-determinant is NaN: seen on DiscBrake, 2 objectives and 4 constraints, at 5 of 4096
    random points, which stopped ``optimize_acqf``). BoTorch jitters the truncated
    covariance (``1e-6 I``) but not the initial one, so an untruncated point scores a
    little below 0; kept, since removing that bias moved MESMOC's runs both ways and gained
    nothing over 5 seeds (``benchmarks/results/mesmoc_information.md``, "BoTorch's MES-LB
    jitter")."""

    def __init__(self, model: Model, hypercell_bounds: Tensor, **kwargs: Any) -> None:
        super().__init__(model, hypercell_bounds, estimation_type="LB", **kwargs)

    def _compute_lower_bound_information_gain(self, X: Tensor) -> Tensor:
        value = super()._compute_lower_bound_information_gain(X)
        bad = ~torch.isfinite(value)
        if bad.any():
            self.estimation_type = "LB2"
            try:
                value = torch.where(bad, super()._compute_lower_bound_information_gain(X), value)
            finally:
                self.estimation_type = "LB"
        return value


def kriging_believer(model: ModelListGP, U_new: Tensor) -> ModelListGP:
    """``model`` conditioned on observations at ``U_new`` (``k x d``) equal to its posterior
    mean there, with the hyperparameters unchanged."""
    with torch.no_grad():
        mean = model.posterior(U_new).mean
    return ModelListGP(
        *[
            sub.condition_on_observations(U_new, mean[:, j : j + 1])
            for j, sub in enumerate(model.models)
        ]
    )


@register
class MESMO(BayesianAlgorithm):
    """MESMO on the GP surrogate.

    Args:
        problem: The problem to optimize.
        num_samples: ``S``, posterior function samples (and NSGA-II runs) per iteration;
            default 1 (measured in ``benchmarks/results/mesmo_design.md``).
        pop_size: NSGA-II population size for each sampled problem.
        n_gen: NSGA-II generations for each sampled problem.
        min_distance: Distance guard (unit cube) between a new point and the batch's
            earlier or pending points; default ``0.01 * sqrt(d)``.
        information: ``"hypervolume"`` (default), ``"front"`` or ``"maxima"`` (the paper);
            see the module docstring.
        guard: Keep a restart's L-BFGS-B end only if it is no more uncertain than its
            start (:meth:`~mobo.algorithms.bayesian.BayesianAlgorithm.guarded_ascent`;
            default True; box measures only; measured in
            ``benchmarks/results/mesmo_design.md``).
        **options: :class:`BayesianAlgorithm` options (``n_initial``, ``num_restarts``, ...).

    After each :meth:`propose`, ``last_max_values`` holds the ``S x m`` tensor of ``y*``.
    """

    name = "mesmo"
    min_objectives = 2
    #: MESMO (and MF-OSEMO, iMOCA, which build on it) keep the warm-started GP fit, the
    #: library's default until 2026-12-04: with the cold default MESMO fell behind on
    #: BraninCurrin, DTLZ2 and VehicleSafety (5 seeds, ahead on ZDT1 only;
    #: ``benchmarks/results/surrogate_warm_start.md``).
    surrogate_defaults = WARM_FIT

    def __init__(
        self,
        problem: Problem,
        *,
        num_samples: int = 1,
        pop_size: int = 50,
        n_gen: int = 40,
        min_distance: float | None = None,
        information: str = "hypervolume",
        guard: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(problem, **options)
        self.guard = bool(guard)
        if information not in INFORMATION:
            raise ValueError(f"information must be one of {list(INFORMATION)}, got {information!r}")
        self.information = information
        self.min_distance = (
            0.01 * math.sqrt(problem.dim) if min_distance is None else float(min_distance)
        )
        if num_samples < 1 or pop_size < 4 or n_gen < 1:
            raise ValueError(
                f"need num_samples >= 1, pop_size >= 4, n_gen >= 1; got "
                f"{num_samples}, {pop_size}, {n_gen}"
            )
        self.num_samples = num_samples
        self.pop_size = pop_size
        self.n_gen = n_gen
        self.last_max_values: Tensor | None = None

    def sampled_fronts(
        self,
        model: ModelListGP,
        seed: int,
        *,
        initial: Tensor | None,
        fixed_last: float | None = None,
    ) -> list[tuple[Tensor, Tensor]]:
        """The ``S`` sampled Pareto sets and fronts (with the problem's constraints, if any,
        feasibility first), NSGA-II populations seeded with ``initial``; ``fixed_last``
        holds the last input (a fidelity) at that value."""
        return sampled_pareto_sets(
            model,
            num_samples=self.num_samples,
            pop_size=self.pop_size,
            n_gen=self.n_gen,
            seed=seed,
            initial=initial,
            num_constraints=self.problem.num_constraints,
            fixed_last=fixed_last,
        )

    def sample_max_values(self, model: ModelListGP, U: Tensor, Y: Tensor, seed: int) -> Tensor:
        """The ``S x m`` tensor ``y*_j^s``: per sampled front, each objective's maximum,
        raised to at least the best observation of that objective. Every NSGA-II population
        starts from the observed Pareto set plus uniform points."""
        fronts = self.sampled_fronts(model, seed, initial=U[is_non_dominated(Y)])
        front_max = torch.stack([F.max(dim=0).values for _, F in fronts])
        return torch.maximum(front_max, Y.max(dim=0).values)

    def acquisition(
        self, model: ModelListGP, max_values: Tensor, sigma_floor: Tensor
    ) -> AcquisitionFunction:
        """The acquisition function maximized for each point of a batch."""
        return MaxValueEntropyMOAcquisition(model, max_values, sigma_floor=sigma_floor)

    def observed_front(self, U: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
        """The Pareto set and front of the feasible observations (every observation, for a
        problem without constraints): ``p x d`` inputs and ``p x m`` objectives."""
        objectives, constraints = self.problem.split_outcomes(Y)
        feasible = feasible_mask(constraints)
        pareto = is_non_dominated(objectives[feasible])
        return U[feasible][pareto], objectives[feasible][pareto]

    def front_boxes(
        self, fronts: list[tuple[Tensor, Tensor]], observed: Tensor, *, constraints: bool = True
    ) -> Tensor:
        """The ``S x 2 x J x (m + k)`` bounds of the disjoint boxes the predictive is
        truncated to: the region each sampled (feasible) front dominates (``"front"``,
        BoTorch's ``compute_sample_box_decomposition``) or :func:`hypervolume_boxes`
        (``"hypervolume"``), and with ``k`` constraints the infeasible region
        (:func:`with_constraints`). Each sampled front is merged with the observed
        feasible Pareto front, as ``y*`` is raised to the best observation: a sample that
        interpolates the data is not dominated by it.

        Args:
            fronts: The sampled Pareto sets and fronts (:meth:`sampled_fronts`).
            observed: The ``p x m`` observed feasible Pareto front (:meth:`observed_front`).
            constraints: Whether to extend the boxes to the constraints (else ``m`` wide).
        """
        m = self.problem.num_objectives
        merged = []
        for _, F in fronts:
            F = torch.cat([F[:, :m], observed])
            merged.append(F[is_non_dominated(F)])
        # BoTorch wants equal-sized fronts: repeat a point (a duplicate adds no box).
        P = max(len(F) for F in merged)
        padded = torch.stack([torch.cat([F, F[:1].expand(P - len(F), m)]) for F in merged])
        if self.information == "hypervolume":
            boxes = hypervolume_boxes(padded, self.ref_point)
        else:
            boxes = compute_sample_box_decomposition(padded)
        return with_constraints(boxes, self.problem.num_constraints) if constraints else boxes

    def front_information(
        self,
        model: ModelListGP,
        fronts: list[tuple[Tensor, Tensor]],
        observed: Tensor,
        U_pending: Tensor | None,
    ) -> AcquisitionFunction:
        """The box measures' acquisition: MES-LB over :meth:`front_boxes`."""
        return FrontInformation(model, self.front_boxes(fronts, observed), X_pending=U_pending)

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        if self.information != "maxima":
            initial, observed = self.observed_front(U, Y)
            fronts = self.sampled_fronts(model, seed, initial=initial)
            acqf = self.front_information(model, fronts, observed, U_pending)
            sets = torch.cat([X for X, _ in fronts])
            return self.maximize_from(
                acqf, q, sets, seed=seed, U_pending=U_pending, guard=self.guard
            )
        max_values = self.sample_max_values(model, U, Y, seed)
        self.last_max_values = max_values
        sigma_floor = 1e-9 * (Y.max(dim=0).values - Y.min(dim=0).values) + 1e-12
        if U_pending is not None:
            model = kriging_believer(model, U_pending)
        taken = U_pending if U_pending is not None else U.new_zeros(0, U.shape[1])
        for _ in range(q):
            acqf = self.acquisition(model, max_values, sigma_floor)
            ends = self.maximize(acqf, 1, return_best_only=False).reshape(-1, U.shape[1])
            with torch.no_grad():
                values = acqf(ends.unsqueeze(-2))
            best = select_distinct(ends, values, 1, min_distance=self.min_distance, avoid=taken)
            candidate = fill_distinct(ends[best], 1, min_distance=self.min_distance, avoid=taken)
            taken = torch.cat([taken, candidate])
            model = kriging_believer(model, candidate)
        return taken[taken.shape[0] - q :]
