"""The probability that an observation adds hypervolume, for the authors' algorithms.

USeMO and MESMO look at each objective on its own (its acquisition, its maximum); neither
sees the reference point or how the objectives trade off, which is what the run is judged
by. On DTLZ2 that is fatal: each objective's maximum is reached on a face of the cube
whatever the other coordinates, so both spend every evaluation on faces whose outcomes lie
far outside the reference box (measured in ``benchmarks/results/mobo_algorithms_50.md``:
no hypervolume gained after the initial design).

:class:`ImprovementRegion` gives, for independent Gaussian predictions, the probability
that ``y`` lands in the region that adds hypervolume: better than the reference point in
every objective and not weakly dominated by any observation. BoTorch's
``FastNondominatedPartitioning`` splits that region into axis-aligned cells, so

    P(x) = sum_cells prod_j [Phi((u_j - mu_j) / sigma_j) - Phi((l_j - mu_j) / sigma_j)],

the multi-objective probability of improvement of [Keane2006]_ with the reference point as
one more bound. It is computed in log space (``log_ndtr``), so it stays usable as a weight
where it is 1e-30.

.. [Keane2006] A. J. Keane. Statistical Improvement Criteria for Use in Multiobjective
   Design Optimization. AIAA Journal 44(4), 2006.
"""

from __future__ import annotations

import torch
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)
from torch import Tensor
from torch.special import log_ndtr

from mobo.problem import DTYPE


def log_probability_feasible(mean: Tensor, sigma: Tensor) -> Tensor:
    """``sum_i log P(c_i(x) <= 0)`` under independent Gaussian predictives of the ``k``
    constraint values (last dimension), in log space so that it stays usable as a weight
    where feasibility is nearly impossible."""
    return log_ndtr(-mean / sigma).sum(dim=-1)


def log_interval_probability(lower: Tensor, upper: Tensor) -> Tensor:
    """``log(Phi(upper) - Phi(lower))`` for standardized bounds ``lower < upper`` (either
    may be infinite), without cancellation on either tail."""
    # Past +-40 standard deviations Phi is 0 or 1 in double precision; clamping there keeps
    # every gradient finite (torch.where differentiates both branches).
    lower = lower.clamp(-40.0, 40.0)
    upper = upper.clamp(-40.0, 40.0)
    # Use the upper tail where both bounds are positive: Phi(b) - Phi(a) = Phi(-a) - Phi(-b).
    flip = lower > 0
    a = torch.where(flip, -upper, lower)
    b = torch.where(flip, -lower, upper)
    log_b = log_ndtr(b)
    log_a = log_ndtr(a)
    ratio = torch.exp(log_a - log_b).clamp(max=1.0 - 1e-16)
    return log_b + torch.log1p(-ratio)


class ImprovementRegion:
    """The part of objective space that adds hypervolume to ``Y`` from ``ref_point``.

    Args:
        Y: ``n x m`` observations (maximized), in the same units as the predictions.
        ref_point: ``m`` reference point in those units.
    """

    def __init__(self, Y: Tensor, ref_point: Tensor) -> None:
        ref_point = ref_point.to(DTYPE)
        partitioning = FastNondominatedPartitioning(ref_point=ref_point, Y=Y.to(DTYPE))
        lower, upper = partitioning.get_hypercell_bounds()  # cells x m each
        # The partitioning's cells start at the reference point; the region is open above.
        self.lower = torch.maximum(lower, ref_point)
        # Finite stand-in for the open top (an infinite bound has an infinite gradient in
        # sigma); the objectives the algorithms see are standardized, so 1e6 is far away.
        self.upper = upper.clamp(max=1e6)

    def log_probability(self, mean: Tensor, sigma: Tensor) -> Tensor:
        """``log P(y in region)`` for ``... x m`` predictive means and standard deviations
        (independent objectives); returns a ``...`` tensor."""
        mean = mean.unsqueeze(-2)  # ... x 1 x m against cells x m
        sigma = sigma.unsqueeze(-2)
        per_objective = log_interval_probability(
            (self.lower - mean) / sigma, (self.upper - mean) / sigma
        )
        return torch.logsumexp(per_objective.sum(dim=-1), dim=-1)
