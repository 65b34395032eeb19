"""USeMO: uncertainty-aware search for multi-objective optimization [Belakaria2020]_.

Each iteration builds a *cheap* multi-objective problem whose objectives are acquisition
functions of the per-objective GPs (by default the portfolio EI and UCB of every objective,
so ``2 m`` cheap objectives), solves it with pymoo's NSGA-II, and evaluates the point of
that Pareto set whose uncertainty box is largest:

    box(x) = prod_j (UCB_j(x) - LCB_j(x)) = prod_j 2 * beta_t^{1/2} * sigma_j(x).

The constant ``(2 beta_t^{1/2})^m`` does not change which point is largest (and neither
does a per-objective change of units), so boxes are compared by ``sum_j log sigma_j(x)``;
``beta_t`` still matters through the UCB and LCB acquisition functions.

``beta_t`` follows the GP-UCB schedule of [Srinivas2010]_ (Theorem 2, in the simplified
form of [Brochu2010]_): ``beta_t = 2 log(t^(d/2 + 2) pi^2 / (3 delta))`` with ``t`` the number
of observations (at least 1), ``d`` the input dimension and ``delta = 0.1`` (option).

Batches (``q > 1``): the ``q`` largest boxes of the Pareto set, taken greedily in order of
box size, skipping a point closer than ``min_distance`` (Euclidean, unit cube; default 1% of
the cube's diagonal, ``0.01 sqrt(d)``) to a point already chosen or pending. If the set runs
out, the rest are uniform random points that pass the same guard (or, failing that, any
uniform points), so a batch is always full.

.. [Belakaria2020] S. Belakaria, A. Deshwal, N. K. Jayakodi, J. R. Doppa. Uncertainty-Aware
   Search Framework for Multi-Objective Bayesian Optimization. AAAI 2020.
.. [Srinivas2010] N. Srinivas, A. Krause, S. Kakade, M. Seeger. Gaussian Process
   Optimization in the Bandit Setting: No Regret and Experimental Design. ICML 2010.
.. [Brochu2010] E. Brochu, V. M. Cora, N. de Freitas. A Tutorial on Bayesian Optimization
   of Expensive Cost Functions. arXiv:1012.2599, 2010.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from botorch.models import ModelListGP
from torch import Tensor
from torch.distributions import Normal

from mobo.algorithms._sampled_fronts import (
    draw_posterior_paths,
    fill_distinct,
    nsga2_pareto_sets,
    select_distinct,
)
from mobo.algorithms.base import register
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.problem import DTYPE, Problem

#: Acquisition functions USeMO can put in its cheap problem (each applied to every objective).
ACQUISITIONS = ("ei", "ucb", "pi", "lcb", "ts")


def gp_ucb_beta(t: int, d: int, delta: float = 0.1) -> float:
    """``beta_t = 2 log(t^(d/2+2) pi^2 / (3 delta))`` [Srinivas2010]_ as in [Brochu2010]_.

    Args:
        t: Iteration (number of observations), clamped to at least 1.
        d: Input dimension.
        delta: Failure probability of the regret bound, in ``(0, 1)``.
    """
    t = max(int(t), 1)
    return 2.0 * ((d / 2.0 + 2.0) * math.log(t) + math.log(math.pi**2 / (3.0 * delta)))


@register
class USeMO(BayesianAlgorithm):
    """USeMO on the GP surrogate: NSGA-II over per-objective acquisitions, then max box.

    Args:
        problem: The problem to optimize.
        acquisitions: Acquisition functions of the cheap problem, each applied to every
            objective; any of ``"ei"``, ``"ucb"``, ``"pi"``, ``"lcb"``, ``"ts"`` (Thompson
            sample). Default ``("ei", "ucb")``, the portfolio form.
        pop_size: NSGA-II population size.
        n_gen: NSGA-II generations.
        delta: ``delta`` of the GP-UCB schedule.
        min_distance: Distance guard between batch points (unit cube); default
            ``0.01 * sqrt(d)``.
        **options: :class:`BayesianAlgorithm` options (``n_initial``, ``surrogate``, ...).

    After each :meth:`propose`, ``last_proposal`` holds the NSGA-II Pareto set
    (``candidates``, ``n x d``, unit cube), its ``log_box`` (``n``, ``sum_j log sigma_j``), the
    ``chosen`` indices and the fitted ``model``, for inspection and tests.
    """

    name = "usemo"

    def __init__(
        self,
        problem: Problem,
        *,
        acquisitions: Sequence[str] = ("ei", "ucb"),
        pop_size: int = 100,
        n_gen: int = 50,
        delta: float = 0.1,
        min_distance: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(problem, **options)
        acquisitions = tuple(a.lower() for a in acquisitions)
        unknown = [a for a in acquisitions if a not in ACQUISITIONS]
        if not acquisitions or unknown:
            raise ValueError(
                f"acquisitions must be a non-empty subset of {ACQUISITIONS}, got {acquisitions}"
            )
        if pop_size < 4 or n_gen < 1:
            raise ValueError(f"need pop_size >= 4 and n_gen >= 1, got {pop_size}, {n_gen}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        self.acquisitions = acquisitions
        self.pop_size = pop_size
        self.n_gen = n_gen
        self.delta = delta
        self.min_distance = (
            0.01 * math.sqrt(problem.dim) if min_distance is None else float(min_distance)
        )
        self.last_proposal: dict[str, Any] | None = None

    def cheap_objectives(self, model: ModelListGP, Y: Tensor, t: int):
        """The cheap problem: a function from an ``S x n x d`` array (``S = 1``) to the
        ``S x n x (len(acquisitions) * m)`` array of acquisition values (maximized)."""
        beta_sqrt = math.sqrt(gp_ucb_beta(t, self.problem.dim, self.delta))
        best = Y.max(dim=0).values
        sample = draw_posterior_paths(model, 1) if "ts" in self.acquisitions else None
        normal = Normal(torch.zeros((), dtype=DTYPE), torch.ones((), dtype=DTYPE))

        def evaluate(X: np.ndarray) -> np.ndarray:
            U = torch.as_tensor(X, dtype=DTYPE)
            with torch.no_grad():
                posterior = model.posterior(U)
                mean = posterior.mean
                sigma = posterior.variance.clamp_min(1e-18).sqrt()
                z = (mean - best) / sigma
                values = []
                for name in self.acquisitions:
                    if name == "ei":
                        values.append(sigma * (z * normal.cdf(z) + normal.log_prob(z).exp()))
                    elif name == "pi":
                        values.append(normal.cdf(z))
                    elif name == "ucb":
                        values.append(mean + beta_sqrt * sigma)
                    elif name == "lcb":
                        values.append(mean - beta_sqrt * sigma)
                    else:  # "ts"
                        values.append(sample(U))
            return torch.cat(values, dim=-1).numpy()

        return evaluate

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        evaluate = self.cheap_objectives(model, Y, t=U.shape[0])
        ((X_front, _),) = nsga2_pareto_sets(
            evaluate,
            num_problems=1,
            dim=self.problem.dim,
            num_objectives=len(self.acquisitions) * self.problem.num_objectives,
            pop_size=self.pop_size,
            n_gen=self.n_gen,
            seed=seed,
        )
        candidates = torch.as_tensor(X_front, dtype=DTYPE)
        log_box = self.log_box(model, candidates)
        chosen = select_distinct(
            candidates, log_box, q, min_distance=self.min_distance, avoid=U_pending
        )
        self.last_proposal = {
            "candidates": candidates,
            "log_box": log_box,
            "chosen": chosen,
            "model": model,
        }
        return fill_distinct(candidates[chosen], q, min_distance=self.min_distance, avoid=U_pending)

    @staticmethod
    def log_box(model: ModelListGP, U: Tensor) -> Tensor:
        """``sum_j log sigma_j(x)``: the log uncertainty box up to the constant
        ``m log(2 beta_t^{1/2})``. ``U``: ``n x d`` (unit cube); returns an ``n`` tensor."""
        with torch.no_grad():
            variance = model.posterior(U).variance
        return 0.5 * variance.clamp_min(1e-300).log().sum(dim=-1)
