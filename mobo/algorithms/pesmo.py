"""PESMO [HernandezLobato2016]_ and JES [Tu2022]_ through BoTorch, with sampled Pareto sets.

Both information-theoretic acquisition functions need samples of the Pareto-optimal set
(PESMO) or of the optimal input-output pairs (JES). They are drawn the same way MESMO draws
its fronts: ``S`` posterior function samples (Matheron paths), each solved with pymoo's
NSGA-II (:mod:`mobo.algorithms._sampled_fronts`), started from the observed Pareto set.
Batches are optimized sequentially-greedily (each point with the earlier ones pending).

* ``pesmo``: ``qMultiObjectivePredictiveEntropySearch`` (expectation propagation).
* ``jes``: ``qLowerBoundMultiObjectiveJointEntropySearch`` with the ``"LB"`` estimate (the
  lower bound of [Tu2022]_), conditioned on the sampled optimal pairs, with the box
  decomposition of each sampled front from ``compute_sample_box_decomposition``; where
  the estimate is NaN (on a plateau) it counts as 0, no information.

Choices made here, and why (measurements: ``benchmarks/results/pesmo_design.md``,
``benchmarks/results/pesmo_subset.md``):

* BoTorch needs equal-sized sets, so each front is cut to ``P = min(num_pareto_points,
  smallest front)`` points. PESMO keeps those adding most hypervolume above the reference
  point (``subset="hypervolume"``) rather than NSGA-II's crowding survivors (``"spread"``,
  JES's), which keep the extremes first, where no hypervolume counts: ZDT1's median log10
  hypervolume difference 0.556 -> -0.545 (``benchmarks/results/pesmo_design.md``).
* PESMO's gradients are unreliable (the EP damping is not differentiable in ``X``), so it
  is maximized with finite-difference gradients (``with_grad=False``), as BoTorch's
  tutorial does. Being the slowest algorithm, it defaults to at most 50 EP iterations
  (BoTorch: 250) and 2 restarts from 128 raw samples with 30 L-BFGS-B iterations: 22.3 ->
  8.2 s per iteration on BraninCurrin. ``S`` stays 8: fewer samples change the estimate.
* On DTLZ2 (``d = 6``) PESMO used to stay at the initial design's value (3 of 5 seeds): the
  GP's samples are optimistic in the unexplored corners, where every sampled Pareto set then
  lies, and the acquisition itself is largest there (random corners 0.46 median, the true
  Pareto set 0.10-0.32). Neither the worst-observation prior mean alone nor MESMO's
  uncertainty guard alone freed it (median -0.432 and 1 of 2 seeds). Together they lift its
  median from -0.386 to -0.595 (Sobol -0.504), at a cost of about 0.1 on ZDT1 and
  VehicleSafety: the only setting measured under which PESMO beats Sobol on every problem,
  so both are defaults. (With the cold GP fit, the default since 2026-12-04: DTLZ2 -0.544,
  still ahead of Sobol; ``benchmarks/results/surrogate_warm_start.md``.) The GP's constant
  mean is the worst observation (``prior_mean="worst"``, unless the problem or
  ``surrogate`` says otherwise) and
  ``guard=True`` starts the restarts from the sampled Pareto sets as well as Sobol points and
  keeps an ascent's end only if it is no more uncertain than its start
  (:meth:`~mobo.algorithms.bayesian.BayesianAlgorithm.guarded_ascent`). Measured in
  ``benchmarks/results/pesmo_design.md``.

.. [HernandezLobato2016] D. Hernandez-Lobato, J. M. Hernandez-Lobato, A. Shah,
   R. P. Adams. Predictive Entropy Search for Multi-objective Bayesian Optimization.
   ICML 2016.
.. [Tu2022] B. Tu, A. Gandy, N. Kantas, B. Shafei. Joint Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2022.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
from botorch.acquisition.multi_objective.joint_entropy_search import (
    qLowerBoundMultiObjectiveJointEntropySearch,
)
from botorch.acquisition.multi_objective.predictive_entropy_search import (
    qMultiObjectivePredictiveEntropySearch,
)
from botorch.acquisition.multi_objective.utils import compute_sample_box_decomposition
from botorch.models import ModelListGP
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from mobo.algorithms._sampled_fronts import (
    hypervolume_subset,
    sampled_pareto_sets,
    spread_subset,
)
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.algorithms.registry import register
from mobo.problem import Problem


class _SampledParetoSetAlgorithm(BayesianAlgorithm):
    """Shared setup of PESMO and JES: options and the sampled optimal sets.

    Args:
        problem: The problem to optimize.
        num_pareto_samples: ``S``, sampled functions (and NSGA-II runs) per iteration.
        num_pareto_points: Points kept per sampled Pareto set (at most).
        pop_size: NSGA-II population size per sampled problem.
        n_gen: NSGA-II generations per sampled problem.
        subset: How a sampled Pareto set is cut to ``P`` points: ``"spread"`` (crowding
            survival, which keeps the extremes) or ``"hypervolume"`` (the points adding
            most hypervolume from the reference point; see :func:`hypervolume_subset`).
        **options: :class:`BayesianAlgorithm` options.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        num_pareto_samples: int = 8,
        num_pareto_points: int = 10,
        pop_size: int = 50,
        n_gen: int = 40,
        subset: str = "spread",
        **options: Any,
    ) -> None:
        super().__init__(problem, **options)
        if subset not in ("spread", "hypervolume"):
            raise ValueError(f"subset must be 'spread' or 'hypervolume', got {subset!r}")
        if num_pareto_samples < 1 or num_pareto_points < 1 or pop_size < 4 or n_gen < 1:
            raise ValueError(
                "need num_pareto_samples >= 1, num_pareto_points >= 1, pop_size >= 4, "
                f"n_gen >= 1; got {num_pareto_samples}, {num_pareto_points}, {pop_size}, {n_gen}"
            )
        self.num_pareto_samples = num_pareto_samples
        self.num_pareto_points = num_pareto_points
        self.pop_size = pop_size
        self.n_gen = n_gen
        self.subset = subset

    def optimal_sets(
        self, model: ModelListGP, U: Tensor, Y: Tensor, seed: int
    ) -> tuple[Tensor, Tensor]:
        """Sampled Pareto sets and fronts.

        Returns:
            An ``S x P x d`` tensor of Pareto-optimal inputs and the ``S x P x m`` tensor of
            the sampled objective values there.
        """
        fronts = sampled_pareto_sets(
            model,
            num_samples=self.num_pareto_samples,
            pop_size=self.pop_size,
            n_gen=self.n_gen,
            seed=seed,
            initial=U[is_non_dominated(Y)],
        )
        P = min(self.num_pareto_points, *(len(X) for X, _ in fronts))

        def cut(X: Tensor, F: Tensor, s: int) -> tuple[Tensor, Tensor]:
            if self.subset == "hypervolume":
                return hypervolume_subset(X, F, P, self.ref_point, seed=seed + s)
            return spread_subset(X, F, P, seed=seed + s)

        kept = [cut(X, F, s) for s, (X, F) in enumerate(fronts)]
        return torch.stack([X for X, _ in kept]), torch.stack([F for _, F in kept])


@register
class PESMO(_SampledParetoSetAlgorithm):
    """PESMO: BoTorch's ``qMultiObjectivePredictiveEntropySearch`` (see module docstring).

    Args:
        problem: The problem to optimize.
        max_ep_iterations: Expectation-propagation iterations at most (50 here; BoTorch's
            default is 250).
        ep_jitter: Jitter of the EP training matrices (BoTorch's option).
        test_jitter: Jitter of the EP test matrices (BoTorch's option).
        threshold: EP convergence threshold (BoTorch's option).
        num_restarts: Restarts of the finite-difference L-BFGS-B (default 2).
        raw_samples: Raw samples choosing the restart points (default 128).
        maxiter: L-BFGS-B iterations per restart (default 30).
        subset: How each sampled Pareto set is cut to ``P`` points (default
            ``"hypervolume"``, measured in ``benchmarks/results/pesmo_design.md``;
            ``"spread"`` before).
        guard: Start the restarts from the sampled Pareto sets too and keep a restart's end
            only if it is no more uncertain than its start (default True; see the module
            docstring). False: Sobol starts, unguarded.
        **options: :class:`_SampledParetoSetAlgorithm` options (``num_pareto_samples``, ...).

    PESMO's GP mean is the worst observation (:attr:`surrogate_defaults`, see the module
    docstring) unless the problem's ``surrogate_options`` or ``surrogate`` set ``prior_mean``.
    """

    name = "pesmo"
    surrogate_defaults = MappingProxyType({"prior_mean": "worst"})

    def __init__(
        self,
        problem: Problem,
        *,
        max_ep_iterations: int = 50,
        ep_jitter: float = 1e-4,
        test_jitter: float = 1e-4,
        threshold: float = 1e-2,
        num_restarts: int = 2,
        raw_samples: int = 128,
        maxiter: int = 30,
        subset: str = "hypervolume",
        guard: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(
            problem,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            maxiter=maxiter,
            subset=subset,
            **options,
        )
        self.guard = bool(guard)
        if max_ep_iterations < 1:
            raise ValueError(f"max_ep_iterations must be >= 1, got {max_ep_iterations}")
        self.max_ep_iterations = max_ep_iterations
        self.ep_jitter = ep_jitter
        self.test_jitter = test_jitter
        self.threshold = threshold

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        pareto_sets, _ = self.optimal_sets(model, U, Y, seed)
        acqf = qMultiObjectivePredictiveEntropySearch(
            model=model,
            pareto_sets=pareto_sets,
            X_pending=U_pending,
            max_ep_iterations=self.max_ep_iterations,
            ep_jitter=self.ep_jitter,
            test_jitter=self.test_jitter,
            threshold=self.threshold,
        )
        if not self.guard:
            return self.maximize(acqf, q, options={"with_grad": False})
        return self.maximize_from(
            acqf,
            q,
            pareto_sets.reshape(-1, pareto_sets.shape[-1]),
            seed=seed,
            U_pending=U_pending,
            options={"with_grad": False},
            guard=True,
        )


class _FiniteJointEntropySearch(qLowerBoundMultiObjectiveJointEntropySearch):
    """BoTorch's JES lower bound, worth 0 (no information) where it is NaN.

    On constant observations (a plateau) the estimate is NaN at a few points (6 of 512
    random ones after 5 points), and one NaN among the raw samples made ``optimize_acqf``'s
    start sampling raise, ending the study (3 of 36 seeds). An information gain is not
    negative (the finite values measured 0.001 at least), so 0 ranks such a point last;
    ``torch.where`` sends it no gradient (measured finite at those points)."""

    def forward(self, X: Tensor) -> Tensor:
        value = super().forward(X)
        return torch.where(value.isnan(), torch.zeros_like(value), value)


@register
class JES(_SampledParetoSetAlgorithm):
    """JES: BoTorch's ``qLowerBoundMultiObjectiveJointEntropySearch`` ("LB" estimate)."""

    name = "jes"

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        pareto_sets, pareto_fronts = self.optimal_sets(model, U, Y, seed)
        acqf = _FiniteJointEntropySearch(
            model=model,
            pareto_sets=pareto_sets,
            pareto_fronts=pareto_fronts,
            hypercell_bounds=compute_sample_box_decomposition(pareto_fronts),
            X_pending=U_pending,
            estimation_type="LB",
            num_samples=self.mc_samples,
        )
        return self.maximize(acqf, q)
