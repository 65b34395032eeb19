"""MF-OSEMO: multi-fidelity output space entropy search for MOBO [Belakaria2020m]_.

For a problem whose last input is a fidelity with discrete levels and costs (see
:class:`mobo.Problem`), choose the point *and* the fidelity that give the most information
about the target-fidelity Pareto front per unit cost:

    (x, l) = argmax_{x, l} I({x, y_l(x)}; F*) / cost_l,

with the front summarized, as in MESMO, by the sampled maxima ``y*_j^s`` of each objective at
the target fidelity. One GP per objective takes the fidelity as an input (its kernel learns
how far the levels agree), so ``f_j(x, l)`` and ``f_j(x, L)`` are jointly Gaussian with
correlation ``rho``. The information an observation at level ``l`` gives about
``f_j(x, L) <= y*`` is

    I = H[N(0, 1)] - H[z | z' <= gamma],   gamma = (y* - mu_L(x)) / sigma_L(x),

``z`` the standardized ``f_j(x, l)`` and ``z'`` the standardized ``f_j(x, L)``; the conditional
density is ``phi(z) Phi((gamma - rho z) / sqrt(1 - rho^2)) / Phi(gamma)``, whose entropy is
integrated numerically on a grid (the paper's "numerical integration" variant, after
[Takeno2020]_). At the target level (``rho = 1``) it is MESMO's closed form.

With MESMO's box measures (``information="hypervolume"`` or ``"front"``, see
:mod:`mobo.algorithms.mesmo`) the front is summarized by the boxes of what does not improve
it instead, and the information of a lower-fidelity observation is MES-LB's moment-matched
bound for ``y_l``, which is the truncated ``f_L`` mapped linearly plus independent noise
(:class:`MultiFidelityFrontInformationPerCost`; at the target level, MES-LB itself).

Where ours differs, and why:

* One GP over ``(x, fidelity)`` per objective (the fidelity an ordinary ARD input of mobo's
  surrogate) instead of the paper's per-fidelity GP stack: one model, fitted as every other
  algorithm's, that shares information across levels where the data say they agree.
* Sampled fronts: Matheron paths at the target fidelity, solved with NSGA-II (MESMO's
  machinery, :mod:`mobo.algorithms._sampled_fronts`); ``y*`` raised to the best target
  observation.
* The initial Sobol design is snapped to the nearest levels (a mix of fidelities, so the
  model sees how they relate from the start).
* ``target_only=True`` runs the same algorithm at the target fidelity alone (the baseline of
  ``benchmarks/mobo_fidelity.py``).
* Batches and pending points: kriging believer, each point's fidelity chosen in turn (see
  "Batches" below).
* Promotions (not in the paper): where the problem prices moving an evaluated lower-fidelity
  point to the target below a target evaluation (:meth:`mobo.Problem.current_cost`, e.g. a
  design search that continues the cheap training run, freeze-thaw style), those points
  compete with the optimized candidates at their information per *current* cost;
  ``promote=False`` gives the paper's choice.
* A budget's end (not in the paper): the result counts target-fidelity evaluations only, so
  where the study has a cost budget (``Study.optimize(max_cost=)``, which sets
  :attr:`MFOSEMO.remaining_cost` before each ask, in the problem's cost units), a lower
  level is chosen only while a full target evaluation still fits after it.
* A share of the budget for the target (not in the paper; ``target_share``, default 0): the
  last ``s`` of the budget (:attr:`MFOSEMO.budget_cost`) goes to target evaluations and
  promotions only, so that the cheap phase's ranking becomes front points where cheap
  evaluations stay attractive to the end.

Measured (``benchmarks/results/mobo_fidelity.md``, BraninCurrin with a biased low fidelity
at a tenth of the cost, 5 seeds): ahead of the target-only run at every checkpoint, 55.8
against 54.0 at a budget of 30; the paper's maxima instead of the box information fell
behind (19.5 against 26.1), which is why ``"hypervolume"`` is the default. Below BoTorch's
single-fidelity qLogNEHVI and MOMF on the same problem: its gain from the cheap fidelity is
the larger, its target-fidelity engine the weaker. On LEANet design searches the cheap
fidelity pays only where a few epochs rank designs as the target does. Every measurement
behind these choices: ``benchmarks/results/mfosemo_design.md``.

Batches: much weaker than asking one point at a time. Hypervolume after 20 evaluations
(BraninCurrin with the biased low fidelity, 8 seeds): median 9.9 (mean 14.6) at
``batch_size=4`` against 29.3 (26.1) at 1; seeds 0, 1, 2: 4.5, 2.9, 2.4 against 4.5, 45.9,
43.1. On seed 1 the first batch puts its 4 points at the target along one sampled front,
where the sequential run, its first target evaluation far better than the posterior mean,
turns to cheap evaluations near it: a believed mean holds no such surprise.
``target_only=True`` shows none (seeds 1, 2). So use ``batch_size=1`` where the
evaluations need not run in parallel; the first batched ask warns. Tried, not enough: each
point chosen on the model believing the batch's earlier points at the sampled function's
values (not the mean), with fronts sampled again from it (8 seeds: median 19.0; iMOCA
17.7); at most one target point per batch (seeds 0, 1, 2: 4.0, 17.4, 0.0). Asks with
points pending (an asynchronous executor) choose as a batch does; not measured.

.. [Belakaria2020m] S. Belakaria, A. Deshwal, J. R. Doppa. Multi-Fidelity Multi-Objective
   Bayesian Optimization: An Output Space Entropy Search Approach. AAAI 2020.
.. [Takeno2020] S. Takeno, H. Fukuoka, Y. Tsukada, T. Koyama, M. Shiga, I. Takeuchi,
   M. Karasuyama. Multi-fidelity Bayesian Optimization with Max-value Entropy Search and
   its Parallelization. ICML 2020.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.joint_entropy_search import (
    _compute_entropy_upper_bound,  # MES-LB's bound; private, as BoTorch exports no other
)
from botorch.models import ModelListGP
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor
from torch.special import log_ndtr

from mobo.algorithms.mesmo import MESMO, kriging_believer, mesmo_information
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem

_ENTROPY_STD_NORMAL = 0.5 * math.log(2 * math.pi * math.e)


def lower_fidelity_information(gamma: Tensor, rho: Tensor, *, grid_points: int = 256) -> Tensor:
    """Information an observation correlated ``rho`` with ``f_L`` gives about ``f_L <= y*``.

    The entropy of ``p(z) = phi(z) Phi((gamma - rho z) / sqrt(1 - rho^2)) / Phi(gamma)`` by
    quadrature on ``[c - 8, c + 8]`` around its mean ``c = -rho phi(gamma) / Phi(gamma)``
    (its standard deviation is at most 1). The authors' code, and this one before, integrated
    over ``[-8, 8]``, which misses the mass when ``gamma`` is far below ``-8`` (information
    4 times too large at ``gamma = -15``).

    Args:
        gamma: A tensor of ``(y* - mu_L) / sigma_L``.
        rho: A tensor (broadcasting with ``gamma``) of correlations, ``|rho| < 1``.
        grid_points: Grid size for the entropy integral.

    Returns:
        ``H[N(0, 1)] - H[z | z' <= gamma]`` (nats), the shape of ``gamma`` and ``rho``.
    """
    gamma, rho = gamma.unsqueeze(-1), rho.clamp(-0.999, 0.999).unsqueeze(-1)
    log_cdf = log_ndtr(gamma)
    center = -rho * torch.exp(-0.5 * gamma**2 - 0.5 * math.log(2 * math.pi) - log_cdf)
    step = 16.0 / (grid_points - 1)
    z = center + torch.linspace(-8.0, 8.0, grid_points, dtype=DTYPE)
    b = (gamma - rho * z) / torch.sqrt(1 - rho**2)
    log_p = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + log_ndtr(b) - log_cdf
    p = torch.exp(log_p)
    mass = (p * step).sum(dim=-1)  # 1 up to the quadrature's error; normalized by it
    entropy = -(p * log_p * step).sum(dim=-1) / mass + torch.log(mass)
    return _ENTROPY_STD_NORMAL - entropy


class MultiFidelityInformationPerCost(AcquisitionFunction):
    """MF-OSEMO's acquisition at one fidelity level (analytic, ``q = 1``).

    Args:
        model: A fitted ``ModelListGP`` over inputs whose last column is the fidelity.
        max_values: An ``S x m`` tensor of sampled target-fidelity maxima ``y*``.
        target: The target fidelity (unit-cube value of the last input).
        cost: The cost of one evaluation at the level the candidates are at.
        sigma_floor: Lower bound on the posterior standard deviations.
        grid_points: Grid size of the lower-fidelity entropy integral.
    """

    def __init__(
        self,
        model: ModelListGP,
        max_values: Tensor,
        *,
        target: float,
        cost: float,
        sigma_floor: Tensor | float = 1e-12,
        grid_points: int = 128,
    ) -> None:
        super().__init__(model=model)
        self.target, self.cost, self.grid_points = target, cost, grid_points
        self.register_buffer("max_values", max_values.to(DTYPE))
        self.register_buffer("sigma_floor", torch.as_tensor(sigma_floor, dtype=DTYPE))

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor (every row at one level); returns ``batch``."""
        at_target = X.clone()
        at_target[..., -1] = self.target
        if bool((X[..., -1] == self.target).all()):
            posterior = self.model.posterior(X)
            sigma = posterior.variance.squeeze(-2).clamp_min(0.0).sqrt()
            sigma = torch.maximum(sigma, self.sigma_floor)
            information = mesmo_information(posterior.mean.squeeze(-2), sigma, self.max_values)
            return information / self.cost
        both = torch.cat([X, at_target], dim=-2)  # batch x 2 x d
        means, sigmas, rhos = [], [], []
        for sub in self.model.models:
            distribution = sub.posterior(both).distribution
            cov = distribution.covariance_matrix  # batch x 2 x 2
            var_l, var_t = cov[..., 0, 0].clamp_min(1e-30), cov[..., 1, 1].clamp_min(1e-30)
            means.append(distribution.mean[..., 1])
            sigmas.append(var_t.sqrt())
            rhos.append(cov[..., 0, 1] / (var_l * var_t).sqrt())
        mean, rho = torch.stack(means, dim=-1), torch.stack(rhos, dim=-1)
        sigma = torch.maximum(torch.stack(sigmas, dim=-1), self.sigma_floor)
        gamma = (self.max_values - mean.unsqueeze(-2)) / sigma.unsqueeze(-2)  # batch x S x m
        information = lower_fidelity_information(
            gamma, rho.unsqueeze(-2), grid_points=self.grid_points
        )
        return information.sum(dim=-1).mean(dim=-1) / self.cost


class MultiFidelityFrontInformationPerCost(AcquisitionFunction):
    """MF-OSEMO's acquisition at one fidelity level with MESMO's box information (MES-LB,
    ``information="hypervolume"`` or ``"front"``; analytic, ``q = 1``).

    Per output ``j``, ``y_l = a + b f_L + e`` with ``b = cov(f_l, f_L) / var(f_L)`` and
    ``e`` independent Gaussian (what ``f_L`` does not explain, plus observation noise), so
    ``y_l`` given ``f_L`` in the boxes is the truncated ``f_L`` mapped by ``a + b f_L``
    plus noise: BoTorch's moment-matched entropy bound (``_compute_entropy_upper_bound``,
    as its MES-LB uses) on the mapped boxes. At the target level (``b = 1``) this is MES-LB.

    Args:
        model: A fitted ``ModelListGP`` over inputs whose last column is the fidelity.
        boxes: The ``S x 2 x J x M`` truncation boxes at the target fidelity
            (:meth:`~mobo.algorithms.mesmo.MESMO.front_boxes`).
        target: The target fidelity (unit-cube value of the last input).
        cost: The cost of one evaluation at the level the candidates are at.
    """

    def __init__(self, model: ModelListGP, boxes: Tensor, *, target: float, cost: float) -> None:
        super().__init__(model=model)
        self.target, self.cost = target, cost
        self.register_buffer("boxes", boxes.to(DTYPE))

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``X``: a ``batch x 1 x d`` tensor; returns ``batch``."""
        batch_shape, X = X.shape[:-2], X.reshape(-1, 1, X.shape[-1])
        tiny = torch.finfo(DTYPE).eps
        at_target = X.clone()
        at_target[..., -1] = self.target
        both = torch.cat([X, at_target], dim=-2)  # batch x 2 x d
        stats = []
        for sub in self.model.models:
            posterior = sub.posterior(both)
            cov = posterior.distribution.covariance_matrix  # batch x 2 x 2
            noisy = sub.posterior(X, observation_noise=True).variance[..., 0, 0]
            var_l, var_t = cov[..., 0, 0].clamp_min(tiny), cov[..., 1, 1].clamp_min(tiny)
            # Regression slope of f_l on f_L, kept positive (a negative correlation is
            # treated as none) so that the map keeps the boxes' order.
            slope = torch.maximum(cov[..., 0, 1] / var_t, 1e-6 * (var_l / var_t).sqrt())
            mean = posterior.mean[..., 0]  # batch x 2
            noise = (noisy - var_l).clamp_min(0.0)
            stats.append((mean[..., 0], mean[..., 1], var_l, var_t, noise, slope))
        mean_l, mean_t, var_l, var_t, noise, slope = (
            torch.stack(t, dim=-1) for t in zip(*stats, strict=True)
        )
        offset = mean_l - slope * mean_t
        boxes = offset[:, None, None, None] + slope[:, None, None, None] * self.boxes
        S = self.boxes.shape[0]
        shape = (X.shape[0], S, 1, 1, mean_l.shape[-1])
        truncated_var = slope**2 * var_t
        residual = (var_l - truncated_var).clamp_min(0.0) + noise
        arguments = {
            "hypercell_bounds": boxes,
            "mean": mean_l[:, None, None, None].expand(shape),
            "variance": truncated_var.clamp_min(tiny)[:, None, None, None].expand(shape),
            "observation_noise": residual[:, None, None, None].expand(shape),
        }
        conditional = _compute_entropy_upper_bound(**arguments, only_diagonal=False)[..., 0]
        bad = ~torch.isfinite(conditional)
        if bad.any():  # as FrontInformation: the diagonal bound where LB is not finite
            diagonal = _compute_entropy_upper_bound(**arguments, only_diagonal=True)[..., 0]
            conditional = torch.where(bad, diagonal, conditional)
        M = mean_l.shape[-1]
        initial = 0.5 * M * (1 + math.log(2 * math.pi)) + 0.5 * (var_l + noise).log().sum(-1)
        return ((initial - conditional) / self.cost).reshape(batch_shape)


@register
class MFOSEMO(MESMO):
    """MF-OSEMO on the GP surrogate (the fidelity a model input).

    Args:
        problem: A problem with fidelities (``fidelity_levels``, ``fidelity_costs``).
        target_only: Evaluate at the target fidelity only (the full-fidelity baseline).
        grid_points: Grid size of the lower-fidelity entropy integral.
        promote: Weigh moving evaluated lower-fidelity points to the target at their
            current cost (see "Promotions" above; only where the problem prices it lower).
        target_share: The share of a cost budget, at its end, kept for target
            evaluations and promotions (see above; needs a budget: ``max_cost``).
        guard: MESMO's uncertainty guard on the restarts (box measures only); off by
            default here: MF-OSEMO's figures (``benchmarks/results/mobo_fidelity.md``)
            were measured without it, and it has not been measured with fidelities.
        **options: :class:`~mobo.algorithms.mesmo.MESMO` options; ``information`` is
            ``"hypervolume"`` (default, as MESMO's), ``"front"`` or ``"maxima"`` (the
            paper's).
    """

    name = "mfosemo"
    supports_fidelities = True
    needs_fidelities = True
    single_fidelity_alternative = "mesmo"
    #: What the study may still spend, in the problem's cost units (None: no budget). A
    #: study with ``max_cost`` sets it before each ask (``benchmarks/design_search.py`` sets
    #: it from a callback, its budget being CPU seconds); see "A budget's end" above.
    remaining_cost: float | None = None
    #: The whole cost budget, in the same units (None: no budget); set with
    #: :attr:`remaining_cost`, read by ``target_share``.
    budget_cost: float | None = None
    #: The measured gap of batches (see "Batches" above), named by the first batched ask's
    #: warning.
    batch_gap = (
        "median hypervolume 9.9 at batch_size=4 against 29.3 at batch_size=1, "
        "BraninCurrin with a biased low fidelity, 20 evaluations, 8 seeds"
    )

    def __init__(
        self,
        problem: Problem,
        *,
        target_only: bool = False,
        grid_points: int = 128,
        promote: bool = True,
        target_share: float = 0.0,
        guard: bool = False,
        **options: Any,
    ) -> None:
        if not 0.0 <= target_share < 1.0:
            raise ValueError(f"target_share must be in [0, 1), got {target_share!r}")
        super().__init__(problem, guard=guard, **options)
        self.target_share = float(target_share)
        self._batch_warned = False
        self.chooses_fidelity = not target_only
        self.grid_points, self.promote = grid_points, promote
        self.levels = problem.fidelity_to_unit(problem.fidelity_levels).tolist()
        self.costs = problem.fidelity_costs.tolist()
        if problem.fidelity_continuous:  # the knots as levels ('imoca' searches between)
            self.fidelity_grid = problem.fidelity_levels

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        if q > 1 and self.chooses_fidelity and not self._batch_warned:
            self._batch_warned = True
            warnings.warn(
                f"{self.name!r} chooses a batch's points and fidelities one by one, believing "
                f"the earlier ones at the posterior mean, which measured much weaker than "
                f"asking one point at a time ({self.batch_gap}): use batch_size=1 where the "
                "evaluations need not run in parallel (target_only=True shows no such gap)",
                UserWarning,
                stacklevel=2,
            )
        model = self.fit_model(U, Y)
        target = self.levels[-1]
        at_target = (U[:, -1] - target).abs() < 1e-9
        initial = None
        if at_target.any():
            initial = U[at_target][is_non_dominated(Y[at_target])][:, :-1]
        fronts = self.sampled_fronts(model, seed, initial=initial, fixed_last=target)
        fidelity = U.shape[1] - 1  # the input column the levels fix
        promotions = self.promotable(U)
        if self.information != "maxima":
            boxes = self.front_boxes(fronts, self.observed_front(U[at_target], Y[at_target])[1])
            sets = torch.cat([X for X, _ in fronts])
            return self.choose_by_level(
                q,
                model,
                U_pending,
                lambda model, cost: MultiFidelityFrontInformationPerCost(
                    model, boxes, target=target, cost=cost
                ),
                # restarts from the sampled target-fidelity Pareto sets moved to the level
                lambda acqf, level: self.maximize_from(
                    acqf,
                    1,
                    sets,
                    seed=seed,
                    U_pending=None,
                    fixed_features={fidelity: level},
                    guard=self.guard,
                ),
                promotions,
            )
        max_values = torch.stack([F.max(dim=0).values for _, F in fronts])
        if at_target.any():
            max_values = torch.maximum(max_values, Y[at_target].max(dim=0).values)
        self.last_max_values = max_values
        sigma_floor = 1e-9 * (Y.max(dim=0).values - Y.min(dim=0).values) + 1e-12
        return self.choose_by_level(
            q,
            model,
            U_pending,
            lambda model, cost: MultiFidelityInformationPerCost(
                model,
                max_values,
                target=target,
                cost=cost,
                sigma_floor=sigma_floor,
                grid_points=self.grid_points,
            ),
            lambda acqf, level: self.maximize(acqf, 1, fixed_features={fidelity: level}),
            promotions,
        )

    def promotable(self, U: Tensor) -> tuple[Tensor, Tensor] | tuple[None, None]:
        """The evaluated lower-fidelity points moved to the target fidelity whose current
        cost (:meth:`mobo.Problem.current_cost`) is above 0 and below a target evaluation's,
        with those costs; ``(None, None)`` when there are none."""
        target = self.levels[-1]
        P = U[(U[:, -1] - target).abs() > 1e-9].clone()
        if not (self.chooses_fidelity and self.promote and len(P)):
            return None, None
        P[:, -1] = target
        costs = self.problem.current_cost(self.problem.from_unit(P)).to(P)
        keep = (costs > 0) & (costs < self.costs[-1])
        return (P[keep], costs[keep]) if keep.any() else (None, None)

    def choose_by_level(
        self,
        q: int,
        model: ModelListGP,
        U_pending: Tensor | None,
        acquisition: Callable[[ModelListGP, float], AcquisitionFunction],
        maximize: Callable[[AcquisitionFunction, float], Tensor],
        promotions: tuple[Tensor, Tensor] | tuple[None, None] = (None, None),
    ) -> Tensor:
        """A greedy batch: per point, the level whose best candidate (``maximize`` of the
        ``acquisition`` at that level's cost) has the most information per cost, lower
        levels only while :attr:`remaining_cost` leaves a target evaluation after them
        (and ``target_share`` of :attr:`budget_cost`); pending and chosen points are added
        to the model by kriging believer."""
        if U_pending is not None:
            model = kriging_believer(model, U_pending)
        levels = list(zip(self.levels, self.costs, strict=True))
        if not self.chooses_fidelity:
            levels = levels[-1:]
        target_cost, remaining = self.costs[-1], self.remaining_cost
        reserve = target_cost  # what must still fit after a lower-level evaluation
        if self.target_share and self.chooses_fidelity:
            if remaining is None or self.budget_cost is None:
                raise ValueError(
                    "target_share needs a cost budget: run the study with max_cost "
                    "(Study.optimize(max_cost=...)), or set remaining_cost and budget_cost"
                )
            reserve = max(reserve, self.target_share * self.budget_cost)
        chosen = []
        P, P_costs = promotions
        for _ in range(q):
            best, best_value, best_cost = None, -math.inf, target_cost
            for level, cost in levels:
                if remaining is not None and level != self.levels[-1]:
                    if remaining - cost < reserve:  # kept for the target
                        continue
                acqf = acquisition(model, cost)
                candidate = maximize(acqf, level)
                with torch.no_grad():
                    value = float(acqf(candidate.unsqueeze(0)))
                if value > best_value:
                    best, best_value, best_cost = candidate, value, cost
            if P is not None and len(P):  # information at the target per current cost
                with torch.no_grad():
                    values = acquisition(model, 1.0)(P.unsqueeze(1)) / P_costs
                i = int(values.argmax())
                if float(values[i]) > best_value:
                    best, best_value, best_cost = P[i : i + 1], float(values[i]), float(P_costs[i])
                    P, P_costs = (
                        torch.cat([P[:i], P[i + 1 :]]),
                        torch.cat([P_costs[:i], P_costs[i + 1 :]]),
                    )
            chosen.append(best)
            if remaining is not None:
                remaining -= best_cost
            model = kriging_believer(model, best)
        return torch.cat(chosen)
