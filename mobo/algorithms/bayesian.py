"""Shared plumbing of the GP-based algorithms: the surrogate and the acquisition optimizer.

Every model-based algorithm fits the same :class:`~mobo.surrogate.Surrogate` and maximizes
its acquisition function over the unit cube with ``botorch.optim.optimize_acqf``; the
options below are the knobs they all share, so each algorithm file holds only its own idea.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.generation import gen_candidates_scipy
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.initializers import initialize_q_batch
from botorch.utils.sampling import draw_sobol_samples
from torch import Tensor

from mobo.algorithms.base import FAILURES, Algorithm, check_failures
from mobo.expected_warnings import warn_again
from mobo.problem import DTYPE, Problem
from mobo.surrogate import Surrogate

__all__ = ["FAILURES", "BayesianAlgorithm"]


class BayesianAlgorithm(Algorithm):
    """An :class:`Algorithm` that fits a GP surrogate and maximizes an acquisition function.

    Args:
        problem: The problem to optimize.
        n_initial: Size of the initial Sobol design (default ``2 * (d + 1)``).
        num_restarts: Multi-start L-BFGS-B restarts in ``optimize_acqf``.
        raw_samples: Raw samples for choosing the restart points.
        maxiter: L-BFGS-B iterations per restart.
        mc_samples: Quasi-Monte-Carlo samples for MC acquisition functions.
        surrogate: A :class:`~mobo.surrogate.Surrogate`, or a dict of its options
            (``max_iter``, ``max_attempts``, ``warm_start``, ``input_warping``,
            ``prior_mean``), which override the problem's ``surrogate_options``, which
            override the algorithm's :attr:`surrogate_defaults`.
        failures: How failed evaluations (an exception or NaN) reach the model:
            ``"learn"`` gives each to the GP at the worst outcome observed (every
            objective's minimum, every constraint's maximum), so the search leaves a region
            where the objective fails; ``"ignore"``: the model never sees them (this
            library before; Ax's way); ``"auto"`` (default) learns the failures that came
            in a row (the model proposing into a failing region) and not isolated ones (a
            failure at a good point, learnt, pulls the model down where the front is;
            qLogNEHVI counts them as pending, :attr:`failures_pending`). No algorithm
            proposes a failed point again. Measured in ``benchmarks/results/failures.md``.
    """

    #: The algorithm's own surrogate options (e.g. PESMO's worst-observation mean), under
    #: the problem's ``surrogate_options`` and the ``surrogate`` argument.
    surrogate_defaults: Mapping[str, Any] = MappingProxyType({})
    hide_target_fidelity = True
    model_based = True

    def __init__(
        self,
        problem: Problem,
        *,
        n_initial: int | None = None,
        num_restarts: int = 4,
        raw_samples: int = 256,
        maxiter: int = 100,
        mc_samples: int = 128,
        surrogate: Surrogate | dict[str, Any] | None = None,
        failures: str = "auto",
    ) -> None:
        super().__init__(problem, n_initial=n_initial)
        self.failures = check_failures(failures)
        for name, value in [
            ("num_restarts", num_restarts),
            ("raw_samples", raw_samples),
            ("maxiter", maxiter),
            ("mc_samples", mc_samples),
        ]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.num_restarts = num_restarts
        self.raw_samples = raw_samples
        self.maxiter = maxiter
        self.mc_samples = mc_samples
        if surrogate is None or isinstance(surrogate, dict):
            surrogate = Surrogate(
                **{**self.surrogate_defaults, **problem.surrogate_options, **(surrogate or {})}
            )
        self.surrogate = surrogate
        d = self.search_dim  # without a fidelity input it cannot choose (see there)
        self.unit_bounds = torch.stack([torch.zeros(d, dtype=DTYPE), torch.ones(d, dtype=DTYPE)])
        #: The reference point in the scale of the objectives :meth:`propose` sees.
        self.ref_point = problem.ref_point.to(DTYPE)

    def model_objectives(self, Y: Tensor) -> Tensor:
        """Standardize each objective (and the reference point alike) before any model or
        acquisition sees it. Objectives with a large common offset (energies near 1e12
        pJ) or a tiny scale otherwise lose their differences to rounding: qLogNEHVI's
        sampling failed on every seed with an offset of 1e12. A positive affine map per
        objective keeps the Pareto order and scales hypervolume by a constant.

        Constraint columns (after the ``m`` objectives) are only divided by their standard
        deviation: a positive scale keeps the sign that says feasible (``<= 0``). Ax's
        bilog before it measured worse on DiscBrake's heavy-tailed constraints
        (``benchmarks/results/constraint_bilog.md``)."""
        Y, C = self.problem.split_outcomes(Y)
        center, scale = objective_scaling(Y, self.problem.ref_point.to(DTYPE))
        self.ref_point = (self.problem.ref_point.to(DTYPE) - center) / scale
        if C.shape[-1] == 0:
            return (Y - center) / scale
        spread = C.std(dim=0, correction=0) if C.shape[0] > 1 else torch.ones(C.shape[-1])
        spread = torch.where(spread > 0, spread, torch.ones_like(spread)).to(DTYPE)
        return torch.cat([(Y - center) / scale, C / spread], dim=-1)

    def state_dict(self) -> dict[str, Any]:
        """The surrogate's last fitted hyperparameters (see :meth:`Surrogate.state_dict`)."""
        state = self.surrogate.state_dict()
        return {"surrogate": state} if state else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.surrogate.load_state_dict(state.get("surrogate", {}))

    def fit_model(self, U: Tensor, Y: Tensor) -> ModelListGP:
        """The surrogate fitted to the observations (unit-cube inputs; objectives, then
        the problem's constraint values, if ``Y`` has those columns too)."""
        return self.surrogate.fit(U, Y, num_objectives=self.problem.num_objectives)

    def maximize(
        self,
        acqf: AcquisitionFunction,
        q: int,
        *,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Maximize ``acqf`` over the unit cube; returns a ``q x d`` tensor.

        ``q > 1`` is optimized sequentially (greedy, each point conditioned on the ones
        before it through ``X_pending``), which is cheaper and as good for MC functions.
        ``options`` add to (or override) the L-BFGS-B options; ``kwargs`` go to
        ``optimize_acqf``.
        """
        # BoTorch records what L-BFGS-B warns (jitter, an abnormal line search, NaNs) to
        # decide on a retry and, with retries off, drops it: sweep41 counted 28 of 76
        # jitters in a qLogNEHVI run. Held here and warned again once it returns, they are
        # counted as expected (mobo.expected_warnings) or reach the caller.
        held: list[warnings.WarningMessage] = []
        generate = kwargs.pop("gen_candidates", gen_candidates_scipy)

        def holding(*args: Any, **gen_kwargs: Any) -> tuple[Tensor, Tensor]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    return generate(*args, **gen_kwargs)
                finally:
                    held.extend(caught)

        try:
            candidates, _ = optimize_acqf(
                acq_function=acqf,
                bounds=self.unit_bounds,
                q=q,
                num_restarts=self.num_restarts,
                raw_samples=self.raw_samples,
                options={"maxiter": self.maxiter, "batch_limit": 16, **(options or {})},
                sequential=q > 1,
                gen_candidates=holding,
                # BoTorch restarts the whole optimization from new initial conditions when
                # L-BFGS-B reports an abnormal line search (common on step-like posteriors);
                # measured here: one such retry cost 36 s of a 0.9 s median iteration. The
                # best of the restarts already run is kept instead.
                retry_on_optimization_warning=False,
                **kwargs,
            )
        finally:
            warn_again(held)
        return candidates.detach()

    def maximize_from(
        self,
        acqf: AcquisitionFunction,
        q: int,
        candidates: Tensor,
        *,
        seed: int,
        U_pending: Tensor | None,
        options: dict[str, Any] | None = None,
        fixed_features: dict[int, float] | None = None,
        guard: bool = False,
    ) -> Tensor:
        """:meth:`maximize`, with each point's restarts started from the best of
        ``raw_samples`` Sobol points *and* the ``n x d`` ``candidates``, as BoTorch's
        initializer picks them (``initialize_q_batch``, which always keeps the best).

        For acquisitions that are high near known points and flat elsewhere: the
        information of MESMO, PESMO and JES concentrates on the sampled Pareto sets, and
        Sobol starts alone often missed them. A batch is greedy: each point is pending for the next.
        ``fixed_features`` (column: value) holds inputs fixed, in the starts too.
        ``guard``: each restart's ascent is checked by :meth:`guarded_ascent`."""
        raw = draw_sobol_samples(self.unit_bounds, n=self.raw_samples, q=1, seed=seed)
        pool = torch.cat([raw.squeeze(1), candidates.to(DTYPE)]).unsqueeze(1)
        for column, value in (fixed_features or {}).items():
            pool[..., column] = value
        chosen: list[Tensor] = []
        for _ in range(q):
            with torch.no_grad():
                values = torch.cat([acqf(chunk) for chunk in pool.split(256)])
            starts, _ = initialize_q_batch(pool, values, self.num_restarts)
            ascend = self.guarded_ascent if guard else self.maximize_once
            chosen.append(ascend(acqf, starts, options=options, fixed_features=fixed_features))
            acqf.set_X_pending(torch.cat(chosen if U_pending is None else [U_pending, *chosen]))
        return torch.cat(chosen)

    def maximize_once(self, acqf: AcquisitionFunction, starts: Tensor, **kwargs: Any) -> Tensor:
        """The best ``1 x d`` end of L-BFGS-B restarts from ``starts`` (``n x 1 x d``)."""
        return self.maximize(acqf, 1, batch_initial_conditions=starts, **kwargs)

    def guarded_ascent(self, acqf: AcquisitionFunction, starts: Tensor, **kwargs: Any) -> Tensor:
        """:meth:`maximize_once`, keeping an end only if it is no more uncertain than its
        start (:func:`log_uncertainty_box` not larger), else the start: the best ``1 x d``.

        Why: where the GP knows little (the cube's faces, in 6 dimensions after 10
        points) it is optimistic, and an ascent that buys acquisition value with
        uncertainty follows that optimism. On DTLZ2 every restart of MESMO ended on a face
        (``benchmarks/results/mesmo_information.md``); USeMO's polish uses the same test."""
        ends, calm = self.calm_ascents(acqf, starts, **kwargs)
        kept = torch.where(calm[:, None, None], ends, starts)
        with torch.no_grad():
            values = acqf(kept)
        return kept[values.argmax()]

    def calm_ascents(
        self, acqf: AcquisitionFunction, starts: Tensor, **kwargs: Any
    ) -> tuple[Tensor, Tensor]:
        """Every restart's L-BFGS-B end from ``starts`` (``n x 1 x d``), and the mask of
        the ends no more uncertain than their starts under the acquisition's model
        (:func:`log_uncertainty_box` over the objectives not larger): the test of
        :meth:`guarded_ascent` and of USeMO's polish."""
        ends = self.maximize(
            acqf, 1, batch_initial_conditions=starts, return_best_only=False, **kwargs
        ).reshape(starts.shape)
        m = self.problem.num_objectives
        # Up to float noise: the same point's posterior in another batch differs in its last
        # bits on some CPUs (an ascent that did not move was dropped on an Intel Xeon).
        calm = (
            log_uncertainty_box(acqf.model, ends.squeeze(1), m)
            <= log_uncertainty_box(acqf.model, starts.squeeze(1), m) + CALM_TOLERANCE
        )
        return ends, calm


#: How much larger (in log sigma, summed over objectives) an ascent's end may be than its
#: start and still count as no more uncertain: float noise, not a real rise.
CALM_TOLERANCE = 1e-9


def log_uncertainty_box(model: Model, U: Tensor, num_objectives: int) -> Tensor:
    """``sum_j log sigma_j(x)`` over the first ``num_objectives`` outputs: the log volume of
    the uncertainty box up to a constant (USeMO's box, :mod:`mobo.algorithms.usemo`).
    ``U``: ``n x d``; returns ``n``."""
    with torch.no_grad():
        variance = model.posterior(U).variance[..., :num_objectives]
    return 0.5 * variance.clamp_min(1e-300).log().sum(dim=-1)


def objective_scaling(Y: Tensor, ref_point: Tensor) -> tuple[Tensor, Tensor]:
    """Per objective, a center and a positive scale: the mean and standard deviation of
    ``Y``; where they vary too little to tell (one point, a constant objective) the scale
    is the distance to the reference point (or 1), so the reference stays at about -1."""
    center = Y.mean(dim=0) if Y.shape[0] else torch.zeros_like(ref_point)
    spread = Y.std(dim=0, correction=0) if Y.shape[0] > 1 else torch.zeros_like(ref_point)
    resolvable = spread > 1e-13 * center.abs().clamp_min(1e-300)
    fallback = (center - ref_point).abs()
    fallback = torch.where(fallback > 0, fallback, torch.ones_like(fallback))
    scale = torch.where(resolvable & torch.isfinite(spread), spread, fallback)
    return center, scale


def constrained_mc_options(num_objectives: int, num_constraints: int) -> dict[str, Any]:
    """The options of a BoTorch MC hypervolume acquisition for outcomes ``m`` objectives
    then ``k`` constraint values (``c <= 0`` feasible, BoTorch's convention too): the
    ``objective`` keeps the objectives, ``constraints`` reads each constraint column, and
    each sample's improvement is weighted by its feasibility. Empty without constraints."""
    if not num_constraints:
        return {}
    m = num_objectives
    return {
        "objective": IdentityMCMultiOutputObjective(outcomes=list(range(m))),
        "constraints": [_output(m + i) for i in range(num_constraints)],
    }


def _output(i: int):
    """Output ``i`` of the samples (``sample_shape x batch x q x (m + k)`` ->
    ``sample_shape x batch x q``), as BoTorch's ``constraints=`` takes it."""
    return lambda Z: Z[..., i]
