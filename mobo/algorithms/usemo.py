"""USeMO: uncertainty-aware search for multi-objective optimization [Belakaria2020]_.

Each iteration builds a *cheap* multi-objective problem whose objectives are acquisition
functions of the per-objective GPs (the paper's portfolio, EI and UCB of every objective,
plus by default the probability of adding hypervolume, so ``2 m + 1`` cheap objectives),
solves it with pymoo's NSGA-II, and evaluates one point of that Pareto set. The paper
takes the point whose uncertainty box is largest (``selection="box"``); by default this
library takes the point of largest expected hypervolume improvement (``"ehvi"``, see
"Selection" below, with the measurements). The box:

    box(x) = prod_j (UCB_j(x) - LCB_j(x)) = prod_j 2 * beta_t^{1/2} * sigma_j(x).

The constant ``(2 beta_t^{1/2})^m`` does not change which point is largest (and neither
does a per-objective change of units), so boxes are compared by ``sum_j log sigma_j(x)``;
``beta_t`` still matters through the UCB and LCB acquisition functions.

``beta_t`` follows the GP-UCB schedule of [Srinivas2010]_ (Theorem 2, in the simplified
form of [Brochu2010]_): ``beta_t = 2 log(t^(d/2 + 2) pi^2 / (3 delta))`` with ``t`` the number
of observations (at least 1), ``d`` the input dimension and ``delta = 0.1`` (option).

Reference-point filter (``candidate_filter``, a departure from the paper, on by default).
The paper takes the largest box over the *whole* acquisition-Pareto set. That set is the
final NSGA-II population of EI and UCB, which reach their extremes where ``sigma`` is large,
so the largest box is nearly pure exploration (usually a corner of the cube), and it
ignores the reference point the run is judged by. With ``candidate_filter="mean_improves"``
the largest box is taken among the candidates whose posterior mean would add hypervolume:
better than ``problem.ref_point`` in every objective and not weakly dominated by any
observation; when no candidate qualifies, among all of them (the paper's rule).
``"ucb_improves"`` applies the same test to ``mu + beta_t^{1/2} sigma``; ``None`` is the paper.
Measured (``benchmarks/mobo_algorithms.py --algorithms usemo --problems BraninCurrin ZDT1
DTLZ2 --seeds 3 --evals 30``; median final log10 hypervolume difference, lower is better):

====================  ============  ======  ======
candidate_filter      BraninCurrin  ZDT1    DTLZ2
====================  ============  ======  ======
None (paper)          1.541         -0.920  -0.385
"ucb_improves"        1.313         -0.920  -0.385
"mean_improves"       1.144         -1.010  -0.385
====================  ============  ======  ======

(Also measured and not kept: EI alone instead of the EI+UCB portfolio, 1.278 / 0.341 /
-0.385; choosing the candidate whose mean adds most hypervolume instead of the largest box,
0.961 / -0.002 / -0.385.) A second round, the same command and budget on all four problems
(BraninCurrin / ZDT1 / DTLZ2 / VehicleSafety; the default's values after 30 evaluations in
its 50-evaluation runs are 1.14 / -1.01 / -0.385 / 1.10), found no variant better on most
problems, so none replaced the default:

* the box's volume inside the region that can add hypervolume (the non-dominated part of
  the reference box, from BoTorch's ``FastNondominatedPartitioning``) instead of the
  filter: 0.95 / -0.91 / -0.385 / 1.15; with the authors' code's smaller ``beta``
  (``0.5 beta_t``, ``delta = 0.05``): 0.82 / -0.95 / -0.385 / 1.23; adding LCB to the
  portfolio as well: 0.91 / -0.92 / -0.385 / 1.06;
* the default filter with the authors' ``beta``: 1.05 / -0.99 / -0.385 / 1.13; adding LCB:
  0.94 / -0.57 / -0.386 / 1.22;
* Thompson sampling alone (USeMO-TS): 0.96 / -0.01 / -0.386 / 1.20;
* NSGA-II's first population seeded with the observed Pareto set (as MESMO's is): 1.16 /
  -1.02 / -0.385 / 1.15; seeded, with LCB added: 0.87 / -0.68 / -0.386 / 1.10.

On DTLZ2 (``d = 6``) none of these variants got past the initial design's hypervolume
within 30 evaluations (nor the old default within 50). The points chosen lie on the cube's
faces (seen with the old default, seed 0: 20 of 20 have a coordinate within 0.05 of a
bound), where sigma is largest and ``g(x)`` puts the objectives far outside the reference
box, which the GP cannot yet tell.

Probability of adding hypervolume (``"pihv"`` in ``acquisitions``, a departure from the
paper, on by default). Every acquisition of the paper's portfolio looks at one objective and
none at the reference point, so the acquisition-Pareto set holds no point chosen for the
chance that its outcome counts. ``"pihv"`` adds one cheap objective, ``log P(y(x) adds
hypervolume)`` (:class:`~mobo.algorithms._improvement.ImprovementRegion`: the Gaussian
mass of the part of objective space that is inside the reference box and not dominated),
so NSGA-II also returns the points most likely to improve the front; the choice among them
is still the largest box (with the reference-point filter). Measured with
``benchmarks/mobo_algorithms.py --algorithms usemo --problems BraninCurrin DTLZ2 --seeds 3
--evals 50 --algorithm-options '{"usemo": {...}}'`` (median final log10 hypervolume
difference of seeds 0-2, lower is better; the old default's are from its 50-evaluation runs,
Sobol's 5-seed medians are 1.613 / -0.504):

==============================================  ============  ======
acquisitions / candidate choice                 BraninCurrin  DTLZ2
==============================================  ============  ======
ei, ucb / max box, mean filter (old default)    0.876         -0.385
ei, ucb, pihv / max box, mean filter (``box``)   0.687         -0.593
ei, ucb, pihv / max box among P >= max P / 2    0.734         -0.634
ei, pihv / max box among P >= max P / 2         0.643         -0.452
ucb, pihv / max box among P >= max P / 2        0.857         -0.385
ei, ucb, pihv / max of log box + log P          0.583         -0.453
ei, ucb / max of log box + log P                0.947         -0.385
==============================================  ============  ======

(The last row weights the box by the probability without adding the objective: on DTLZ2 the
GP, fitted to 10 points in 6 dimensions, puts the faces' probability *above* the centre's,
about 0.55 against 0.35 at seed 0, so only new candidates, not a new weight, help. MESMO's
information weighted by the same probability, ``log alpha + log P``, left DTLZ2 at -0.379 /
-0.386 on seeds 0-1 and BraninCurrin at 1.50 / 1.52.) On the whole suite, 5 seeds, 50
evaluations (``mobo_algorithms_50.md`` at 503dbcc), the box choice goes from 0.876 /
-1.111 / -0.386 / 0.977 to 0.687 / -1.210 / -0.593 / 1.009 (BraninCurrin / ZDT1 / DTLZ2 /
VehicleSafety; Sobol 1.613 / 1.194 / -0.504 / 1.918, qLogNEHVI 0.129 / -1.225 / -0.881 /
0.446 as re-run with the whole suite at 503dbcc) at 0.43-0.73 s per iteration (0.54-0.87
before). On the LEANet threshold problems
it does not help (``benchmarks/results/threshold_search.md``, 18 networks, 25 evaluations:
median 0.954 of the reference hypervolume over 5 seeds, Sobol's 0.959; on seeds 0-2, 0.946
against 0.960 with ``("ei", "ucb")``, better on 3 networks, worse on 3): their fronts hold a
few points each, found or missed by single proposals.

Selection (``selection``, a departure from the paper; default ``"ehvi"``). The largest
box is the most uncertain candidate, whatever its outcome could add to the front: with
the filter and ``"pihv"`` above it still spent most evaluations on exploration, and USeMO
trailed qLogNEHVI by 0.3-0.6 (log10 hypervolume difference) on three of the four problems.
``"ehvi"`` keeps the paper's two steps (the same cheap problem and NSGA-II, then one point
of its Pareto set) and changes only the choice: the candidate of largest qLogEHVI
(BoTorch) over the observed front (since c6ff694 qLogNEHVI over the evaluated points: "Noisy
scores" below). Batches take the ``q`` best by that value under the distance guard below.
Measured with ``benchmarks/mobo_algorithms.py --algorithms usemo --seeds 5 --evals 50
--algorithm-options '{"usemo": {...}}'`` (median final log10 hypervolume difference of 5
seeds, lower is better;
``benchmarks/results/usemo_selection.md`` has every seed and the commands):

============================================  ============  ======  ======  =============
selection                                     BraninCurrin  ZDT1    DTLZ2   VehicleSafety
============================================  ============  ======  ======  =============
``"box"`` (the paper's, with filter, pihv)    0.687         -1.210  -0.593  1.009
``"ehvi"``, no polish                         0.212         -1.124  -0.877  0.762
``"ehvi"``, best 4 polished by L-BFGS-B       0.114         -1.099  -0.466  0.445
``"ehvi"``, polish guarded                    0.148         -1.124  -0.941  0.535
the same, noisy scores (default)              0.100         -1.632  -0.966  0.524
qLogNEHVI (for comparison)                    0.129         -1.225  -0.881  0.446
Sobol (for comparison)                        1.613         1.194   -0.504  1.918
============================================  ============  ======  ======  =============

Polishing (``polish``, default True). The choice among NSGA-II's candidates is only as fine
as its population, so the ``num_restarts`` best candidates are also moved by gradient ascent
(L-BFGS-B) on the same qLogEHVI, and the best of candidates and moved points is evaluated.
Unguarded, the ascent closed the gap to qLogNEHVI on BraninCurrin and VehicleSafety but
followed the GP's optimism onto DTLZ2's faces, where 4 of 5 seeds ended at -0.39 to -0.55 (a
polish confined to 0.1 around each candidate did the same). An ascent that gains expected
improvement by gaining uncertainty is that optimism, so a moved point is kept only if its
uncertainty box (``sum_j log sigma_j``) is no larger than its start's (on BraninCurrin, 2
ascents from each of 4 seeds: all 8 refused after 12 random observations, 3 of 8 kept after
30). Allowing 25% more sigma per objective brought VehicleSafety to 0.40 (3 seeds) and sent
DTLZ2 back to the faces (-0.54 / -1.05 / -0.39), so the guard is strict. An ask costs
1.0-1.3x the unpolished one (``benchmarks/results/usemo_selection.md``: 0.82 / 0.89 / 1.25 /
1.53 CPU s on BraninCurrin / ZDT1 / DTLZ2 / VehicleSafety, qLogNEHVI's 0.48 / 0.64 / 1.03 /
3.16). On ZDT1, whose Pareto set lies on a face of the cube (``x_2 = ... = x_d = 0``),
``"ehvi"`` gives up 0.09 to the box either way. On the LEANet threshold problems
(``benchmarks/results/threshold_search_rebuilt.md``, 18 networks x 5 seeds, 25 evaluations)
the median stays 0.981 of the reference hypervolume and the worst network rises from 0.801
to 0.833: the polish finds a MobileNet depth LEANet's most accurate reference point in 3 of
5 seeds, which no method found before (``threshold_search.md`` was measured with ``"box"``).

Noisy scores (``noisy``, default True). qLogEHVI over the *observed* front credits the GP's
noise at an evaluated point: next to an extreme of the front, a sigma of a few thousandths
times a side as long as the distance to the reference point looks like a real gain. On ZDT1
(reference point 10 units beyond the front) the guarded choice spent 6 of 40 evaluations
within 0.001 of one extreme input (seed 0) and every seed ended at -1.12 to -1.15. Scored by
qLogNEHVI instead, whose improvement is over posterior samples of the evaluated points
drawn jointly with the candidate's (``X_baseline``, pruned as BoTorch does), a repeat gains
nothing. Measured (``benchmarks/results/usemo_selection.md``, 5 seeds, 10 + 40, median log10
hypervolume difference): BraninCurrin 0.148 -> 0.100, ZDT1 -1.124 -> -1.632, DTLZ2 -0.941 ->
-0.966, VehicleSafety 0.535 -> 0.524 (qLogNEHVI 0.129 / -1.225 / -0.881 / 0.446). An ask
costs 1.0-1.2x as much on two objectives and 2.2x on VehicleSafety, about qLogNEHVI's there
(3.65 against 3.31 CPU s; one box decomposition per posterior sample of the incumbents
instead of one for the observed front); ``noisy=False`` is the cheaper choice for three or
more objectives. One DTLZ2 seed (0) stays at the initial design's value (-0.379; it reached
-1.093 with the observed front).

Batches (``q > 1``): the ``q`` best candidates (largest boxes, or largest qLogEHVI), taken
greedily in that order, skipping a point closer than ``min_distance`` (Euclidean, unit
cube; default 1% of the cube's diagonal, ``0.01 sqrt(d)``) to a point already chosen or
pending. If the set runs out, the rest are uniform random points that pass the same guard
(or, failing that, any uniform points), so a batch is always full.

Black-box constraints (``c(x) <= 0``; a departure: the paper has none). Each constraint gets
its own GP. The incumbents (EI's best, the hypervolume region, the EHVI front) are the
feasible observations; ``"pihv"`` becomes the probability of a *feasible* improvement; the
log probability of feasibility, ``sum_i log P(c_i(x) <= 0)``, is one more cheap objective,
so NSGA-II also keeps the points most likely to be feasible; and the EHVI choice weights
each posterior sample's improvement by its feasibility (BoTorch's ``constraints=``, as
constrained qLogNEHVI does). The paper's box rule has no feasibility in it and refuses a
constrained problem. Measured on BoTorch's three constrained problems (5 seeds, 10 + 40):
600.1 / 0.3625 / 10.99 median feasible hypervolume with the noisy scores (599.0 / 0.3690 /
11.00 scored over the observed front, 593.4 / 0.3544 / 10.84 before the polish) against
Sobol's 430.9 / 0.2292 / 8.319, constrained qLogNEHVI's 603.2 / 0.3627 / 11.08 and MESMOC's
599.0 / 0.3618 / 10.97; the probability of feasibility as an
objective alone gave 564.2 / 0.3349 / 10.52, folded into ``"pihv"`` alone 598.1 / 0.3413 /
9.03 (before the polish; ``benchmarks/results/usemo_constrained.md``).

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
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import (
    qLogExpectedHypervolumeImprovement,
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.models import ModelListGP
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)
from torch import Tensor
from torch.distributions import Normal
from torch.special import log_ndtr

from mobo.algorithms._improvement import ImprovementRegion
from mobo.algorithms._sampled_fronts import (
    draw_posterior_paths,
    fill_distinct,
    nsga2_pareto_sets,
    select_distinct,
)
from mobo.algorithms.base import register
from mobo.algorithms.bayesian import BayesianAlgorithm, constrained_mc_options, log_uncertainty_box
from mobo.metrics import feasible_mask
from mobo.problem import DTYPE, Problem

#: Acquisition functions USeMO can put in its cheap problem: each applied to every objective,
#: except ``"pihv"``, one joint objective (log probability of adding hypervolume).
ACQUISITIONS = ("ei", "ucb", "pi", "lcb", "ts", "pihv")
#: Ways to restrict the max-box choice to part of the acquisition-Pareto set.
CANDIDATE_FILTERS = (None, "mean_improves", "ucb_improves")
#: How the point to evaluate is chosen from the acquisition-Pareto set.
SELECTIONS = ("box", "ehvi")


def improves_front(values: Tensor, Y: Tensor, ref_point: Tensor) -> Tensor:
    """Mask of the rows of ``values`` (``n x m``, maximized) that would add hypervolume to
    the observations ``Y`` (``k x m``) from ``ref_point``: strictly better than the reference
    point in every objective and not weakly dominated by any observation."""
    in_box = (values > ref_point).all(dim=-1)
    if Y.shape[0] == 0:
        return in_box
    dominated = (Y.unsqueeze(0) >= values.unsqueeze(1)).all(dim=-1).any(dim=-1)
    return in_box & ~dominated


def rank_by_box(log_box: Tensor, eligible: Tensor) -> Tensor:
    """Scores whose descending order is USeMO's preference: every ``eligible`` candidate by
    its ``log_box``, then the ineligible ones by theirs (kept as a fallback, so a batch can
    still be filled)."""
    penalty = log_box.max() - log_box.min() + 1e6
    return torch.where(eligible, log_box, log_box - penalty)


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
    """USeMO on the GP surrogate: NSGA-II over per-objective acquisitions, then one point
    of its Pareto set (largest expected hypervolume improvement, or the paper's max box).

    Args:
        problem: The problem to optimize; it may declare black-box constraints (see the
            module docstring), with ``selection="ehvi"`` only.
        acquisitions: Acquisition functions of the cheap problem, each applied to every
            objective; any of ``"ei"``, ``"ucb"``, ``"pi"``, ``"lcb"``, ``"ts"`` (Thompson
            sample), and ``"pihv"``, the joint probability of adding hypervolume (one
            objective). Default ``("ei", "ucb", "pihv")``: the paper's portfolio plus
            ``"pihv"`` (see the module docstring); ``("ei", "ucb")`` is the paper's.
        pop_size: NSGA-II population size.
        n_gen: NSGA-II generations.
        delta: ``delta`` of the GP-UCB schedule.
        min_distance: Distance guard between batch points (unit cube); default
            ``0.01 * sqrt(d)``.
        candidate_filter: ``"mean_improves"`` (default), ``"ucb_improves"`` or ``None`` (the
            paper): which acquisition-Pareto candidates the largest box is taken among
            (``selection="box"`` only; see the module docstring, with the measurements).
        selection: ``"ehvi"`` (default): the candidate of largest expected hypervolume
            improvement (qLogEHVI over the observed front; ``candidate_filter`` is then
            unused), or ``"box"`` (the paper): the largest uncertainty box among the
            ``candidate_filter``'s candidates. See the module docstring.
        polish: With ``selection="ehvi"``: also move the ``num_restarts`` best candidates
            by gradient ascent on the same score, keeping a moved point only if it is no more
            uncertain than its start (default True; see the module docstring).
        noisy: With ``selection="ehvi"``: score by qLogNEHVI, the improvement over
            posterior samples of the evaluated points, instead of qLogEHVI over their
            observed values (default True; see the module docstring).
        **options: :class:`BayesianAlgorithm` options (``n_initial``, ``surrogate``, ...).

    After each :meth:`propose`, ``last_proposal`` holds the NSGA-II Pareto set, after the
    polished points if any (``candidates``, ``n x d``, unit cube), its ``log_box`` (``n``,
    ``sum_j log sigma_j``), the ``score`` it ranked them by, the ``eligible`` mask of the
    ``candidate_filter`` (``None`` with ``selection="ehvi"``, which does not filter), the
    ``chosen`` indices and the fitted ``model``, for inspection and tests.
    """

    name = "usemo"
    supports_constraints = True

    def __init__(
        self,
        problem: Problem,
        *,
        acquisitions: Sequence[str] = ("ei", "ucb", "pihv"),
        pop_size: int = 100,
        n_gen: int = 50,
        delta: float = 0.1,
        min_distance: float | None = None,
        candidate_filter: str | None = "mean_improves",
        selection: str = "ehvi",
        polish: bool = True,
        noisy: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(problem, **options)
        self.polish = bool(polish)
        self.noisy = bool(noisy)
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        if selection == "box" and problem.num_constraints:
            raise ValueError(
                f"selection='box' does not model constraints, and problem {problem.name!r} "
                f"declares {problem.num_constraints}; use selection='ehvi' (the default)"
            )
        self.selection = selection
        if candidate_filter not in CANDIDATE_FILTERS:
            raise ValueError(
                f"candidate_filter must be one of {CANDIDATE_FILTERS}, got {candidate_filter!r}"
            )
        self.candidate_filter = candidate_filter
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

    @property
    def num_cheap_objectives(self) -> int:
        """Outputs of :meth:`cheap_objectives`: ``m`` per acquisition, 1 for ``"pihv"``, and
        1 for the probability of feasibility if the problem has constraints."""
        m = self.problem.num_objectives
        feasibility = 1 if self.problem.num_constraints else 0
        return sum(1 if a == "pihv" else m for a in self.acquisitions) + feasibility

    def cheap_objectives(self, model: ModelListGP, Y: Tensor, t: int):
        """The cheap problem: a function from an ``S x n x d`` array (``S = 1``) to the
        ``S x n x num_cheap_objectives`` array of acquisition values (maximized). With
        constraints, the incumbents are the feasible observations (all of them while none
        is), ``"pihv"`` becomes the log probability of a *feasible* improvement,
        ``log P(adds hypervolume) + sum_i log P(c_i(x) <= 0)`` (independent GPs), and
        ``sum_i log P(c_i(x) <= 0)`` is one more cheap objective."""
        m = self.problem.num_objectives
        objectives, constraints = self.problem.split_outcomes(Y)
        feasible = feasible_mask(constraints)
        incumbents = objectives[feasible] if feasible.any() else objectives
        beta_sqrt = math.sqrt(gp_ucb_beta(t, self.problem.dim, self.delta))
        best = incumbents.max(dim=0).values
        sample = draw_posterior_paths(model, 1) if "ts" in self.acquisitions else None
        region = (
            ImprovementRegion(objectives[feasible], self.ref_point)
            if "pihv" in self.acquisitions
            else None
        )
        normal = Normal(torch.zeros((), dtype=DTYPE), torch.ones((), dtype=DTYPE))

        def evaluate(X: np.ndarray) -> np.ndarray:
            U = torch.as_tensor(X, dtype=DTYPE)
            with torch.no_grad():
                posterior = model.posterior(U)
                sigma_all = posterior.variance.clamp_min(1e-18).sqrt()
                mean, sigma = posterior.mean[..., :m], sigma_all[..., :m]
                log_feasible = log_ndtr(-posterior.mean[..., m:] / sigma_all[..., m:]).sum(
                    dim=-1, keepdim=True
                )
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
                    elif name == "pihv":
                        improves = region.log_probability(mean, sigma).unsqueeze(-1)
                        values.append(improves + log_feasible)  # 0 without constraints
                    else:  # "ts"
                        values.append(sample(U)[..., :m])
                if self.problem.num_constraints:
                    values.append(log_feasible)
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
            num_objectives=self.num_cheap_objectives,
            pop_size=self.pop_size,
            n_gen=self.n_gen,
            seed=seed,
        )
        candidates = torch.as_tensor(X_front, dtype=DTYPE)
        eligible = None  # the candidate_filter serves the box rule only
        if self.selection == "ehvi":
            candidates, score = self.ehvi_scores(model, U, Y, candidates, seed=seed)
        log_box = self.log_box(model, candidates)
        if self.selection == "box":
            eligible = self.eligible(model, candidates, Y, t=U.shape[0])
            score = rank_by_box(log_box, eligible)
        chosen = select_distinct(
            candidates, score, q, min_distance=self.min_distance, avoid=U_pending
        )
        self.last_proposal = {
            "candidates": candidates,
            "log_box": log_box,
            "score": score,
            "chosen": chosen,
            "eligible": eligible,
            "model": model,
        }
        return fill_distinct(candidates[chosen], q, min_distance=self.min_distance, avoid=U_pending)

    def eligible(self, model: ModelListGP, candidates: Tensor, Y: Tensor, t: int) -> Tensor:
        """Mask of the candidates the max-box choice prefers (all of them without a
        ``candidate_filter``, or when the filter keeps none)."""
        n = candidates.shape[0]
        if self.candidate_filter is None:
            return torch.ones(n, dtype=torch.bool)
        with torch.no_grad():
            posterior = model.posterior(candidates)
            values = posterior.mean
            if self.candidate_filter.startswith("ucb"):
                beta_sqrt = math.sqrt(gp_ucb_beta(t, self.problem.dim, self.delta))
                values = values + beta_sqrt * posterior.variance.clamp_min(0.0).sqrt()
        mask = improves_front(values, Y, self.ref_point)
        return mask if mask.any() else torch.ones(n, dtype=torch.bool)

    def ehvi_acquisition(
        self, model: ModelListGP, U: Tensor, Y: Tensor, *, seed: int
    ) -> qLogExpectedHypervolumeImprovement | qLogNoisyExpectedHypervolumeImprovement:
        """qLogEHVI over the observed (feasible) front (one box decomposition, where
        qLogNEHVI builds one per posterior sample of the incumbents, which costs seconds
        with three objectives), or with ``noisy`` qLogNEHVI over the evaluated inputs
        ``U``. With constraints, BoTorch weights each sample's improvement by its
        feasibility."""
        constrained = constrained_mc_options(
            self.problem.num_objectives, self.problem.num_constraints
        )
        if self.noisy:
            return qLogNoisyExpectedHypervolumeImprovement(
                model=model,
                ref_point=self.ref_point.tolist(),
                X_baseline=U,
                prune_baseline=True,
                sampler=SobolQMCNormalSampler(
                    sample_shape=torch.Size([self.mc_samples]), seed=seed
                ),
                **constrained,
            )
        objectives, constraints = self.problem.split_outcomes(Y)
        partitioning = FastNondominatedPartitioning(
            ref_point=self.ref_point, Y=objectives[feasible_mask(constraints)]
        )
        return qLogExpectedHypervolumeImprovement(
            model=model,
            ref_point=self.ref_point.tolist(),
            partitioning=partitioning,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed),
            **constrained,
        )

    def ehvi_scores(
        self, model: ModelListGP, U: Tensor, Y: Tensor, candidates: Tensor, *, seed: int
    ) -> tuple[Tensor, Tensor]:
        """The candidates, after their :meth:`polished` points if ``polish``, and the
        qLogEHVI (or qLogNEHVI) of each (:meth:`ehvi_acquisition`)."""
        acqf = self.ehvi_acquisition(model, U, Y, seed=seed)
        with torch.no_grad():
            score = acqf(candidates.unsqueeze(-2))
        if not self.polish:
            return candidates, score
        polished = self.polished(acqf, model, candidates, score)
        if not polished.shape[0]:
            return candidates, score
        with torch.no_grad():
            polished_score = acqf(polished.unsqueeze(-2))
        return torch.cat([polished, candidates]), torch.cat([polished_score, score])

    def polished(
        self,
        acqf: AcquisitionFunction,
        model: ModelListGP,
        candidates: Tensor,
        score: Tensor,
    ) -> Tensor:
        """The ``num_restarts`` best candidates by ``score``, each moved by L-BFGS-B
        ascent on ``acqf`` over the cube, keeping only the ascents that end no more
        uncertain than they started (``log_box`` not larger): an ascent that buys
        expected improvement with uncertainty is following the GP's optimism (on DTLZ2,
        onto the cube's faces) and is dropped. Returns ``k x d``, ``k <= num_restarts``."""
        top = torch.argsort(score, descending=True)[: self.num_restarts]
        ends, calm = self.calm_ascents(acqf, model, candidates[top].unsqueeze(1))
        return ends[calm].squeeze(1)

    def log_box(self, model: ModelListGP, U: Tensor) -> Tensor:
        """``sum_j log sigma_j(x)`` over the objectives: the log uncertainty box up to the
        constant ``m log(2 beta_t^{1/2})``. ``U``: ``n x d`` (unit cube); returns ``n``."""
        return log_uncertainty_box(model, U, self.problem.num_objectives)
