"""Quality indicators of a set of objective vectors (all objectives maximized).

Hypervolumes are exact, computed by moocore (the C library behind pymoo's indicators):
its dimension-specific algorithms take 0.02-0.2 ms where BoTorch's box decomposition took
8 ms (500 points, 2-D) to 80 ms (200 points, 3-D) and 0.15 s (2000 points, 2-D), on every
iteration of a study (``benchmarks/results/hypervolume_speed.md``). Pareto filtering is
moocore's too: BoTorch's loops in Python over large sets (0.22 s on the 50,000 points of a
threshold reference front; moocore is O(n log n) for m <= 3). Rows with NaN (failed
evaluations) are ignored everywhere. Under black-box constraints only feasible points
count: :func:`feasible_objectives` blanks the others to NaN before any indicator.
"""

from __future__ import annotations

import math

import moocore
import torch
from torch import Tensor

from mobo.problem import DTYPE, as_tensor

#: log10 of a hypervolume difference below this is reported as log10(LOG_FLOOR).
LOG_FLOOR = 1e-12


def _finite_rows(Y: Tensor) -> Tensor:
    Y = as_tensor(Y, "Y")
    if Y.dim() != 2:
        raise ValueError(f"Y must have shape n x m, got {tuple(Y.shape)}")
    return torch.isfinite(Y).all(dim=-1)


def feasible_mask(C: Tensor) -> Tensor:
    """Boolean mask of the rows of ``C`` (``n x k`` constraint values) that satisfy every
    constraint ``c_i <= 0``; a row with NaN is not feasible. With ``k = 0``, every row is."""
    C = as_tensor(C, "C")
    if C.dim() != 2:
        raise ValueError(f"C must have shape n x k, got {tuple(C.shape)}")
    return (C <= 0).all(dim=-1)


def feasible_objectives(Y: Tensor, C: Tensor) -> Tensor:
    """``Y`` (``n x m``) with the rows that violate a constraint of ``C`` (``n x k``) set to
    NaN, so the Pareto set and hypervolume of the result are those of the feasible points."""
    Y = as_tensor(Y, "Y")
    if C.shape[0] != Y.shape[0]:
        raise ValueError(f"C must have one row per row of Y ({Y.shape[0]}), got {C.shape[0]}")
    return torch.where(feasible_mask(C).unsqueeze(-1), Y, torch.full_like(Y, math.nan))


def pareto_mask(Y: Tensor) -> Tensor:
    """Boolean mask of the non-dominated rows of ``Y`` (``n x m``, maximized).

    Failed (non-finite) rows are never Pareto; of exact duplicates only the first is.
    """
    finite = _finite_rows(Y)
    mask = torch.zeros(Y.shape[0], dtype=torch.bool)
    if finite.any():
        mask[finite] = _non_dominated(as_tensor(Y, "Y")[finite])
    return mask


def _non_dominated(Y: Tensor) -> Tensor:
    """The mask of BoTorch's ``is_non_dominated(Y, deduplicate=True)`` for finite ``Y``
    (``n x m``, ``n >= 1``, maximized): no row is at least as good everywhere and better
    somewhere, and of exact duplicates only the first is kept."""
    kept = moocore.is_nondominated(Y.detach().numpy(), maximise=True, keep_weakly=False)
    return torch.from_numpy(kept)


def hypervolume(Y: Tensor, ref_point: Tensor) -> float:
    """Exact hypervolume dominated by the rows of ``Y`` (``n x m``) above ``ref_point`` (``m``)."""
    Y, ref_point = _objectives_and_reference(Y, ref_point)
    Y = Y[_finite_rows(Y)]
    Y = Y[(Y > ref_point).all(dim=-1)]
    if Y.shape[0] == 0:
        return 0.0
    Y, ref = Y.detach().numpy(), ref_point.detach().numpy()
    return float(moocore.hypervolume(Y, ref=ref, maximise=True))


def hypervolume_trace(Y: Tensor, ref_point: Tensor) -> Tensor:
    """Hypervolume of ``Y[:i+1]`` for every ``i``: an ``n``-vector, non-decreasing.

    Recomputes only when a new row can add volume (finite, above the reference point, and
    not dominated by the front so far).
    """
    Y, ref_point = _objectives_and_reference(Y, ref_point)
    finite = _finite_rows(Y)
    trace = torch.zeros(Y.shape[0], dtype=DTYPE)
    front = Y.new_zeros((0, Y.shape[-1]))
    current = 0.0
    for i in range(Y.shape[0]):
        y = Y[i]
        if finite[i] and (y > ref_point).all():
            dominated = ((front >= y).all(dim=-1)).any() if front.shape[0] else False
            if not dominated:
                front = torch.cat([front, y.unsqueeze(0)])
                front = front[_non_dominated(front)]
                current = hypervolume(front, ref_point)
        trace[i] = current
    return trace


def cost_rounding(total: float) -> float:
    """How far two totals of about ``total`` may differ and still be the same cost spent:
    ``1e-9`` of it. Prices summed in another order differ by an ulp (0.1 + 0.1 + 6 x 1.0
    is 6.2000000000000002, 5 x 1.0 + 0.1 + 0.1 + 1.0 is 6.1999999999999993), so a budget
    is spent, and two runs end together, within this much."""
    return 1e-9 * total


def hypervolume_within(cumulative_cost: Tensor, trace: Tensor, at: Tensor | float) -> Tensor:
    """A trace against the cost spent: its value after the last evaluation whose total
    cost is within each of ``at`` (up to :func:`cost_rounding`: 20.000000000000004 is
    within 20), 0 (nothing evaluated) before the first. The one reading
    of a run at a cost, for :func:`mobo.plotting.plot_hypervolume_trace` and
    ``benchmarks/mobo_fidelity.py``.

    Args:
        cumulative_cost: An ``n``-dim non-decreasing Tensor, the total after each
            evaluation (:attr:`mobo.Result.cumulative_cost`).
        trace: An ``n``-dim Tensor, the value after each evaluation (a hypervolume).
        at: Costs, a Tensor of any shape or a number.

    Returns:
        A Tensor of ``at``'s shape.
    """
    at = torch.as_tensor(at, dtype=cumulative_cost.dtype)
    at = at + cost_rounding(1.0) * at.abs()
    after = torch.searchsorted(cumulative_cost, at, right=True)  # evaluations within
    return torch.cat([trace.new_zeros(1), trace])[after]


def _objectives_and_reference(Y: Tensor, ref_point: Tensor) -> tuple[Tensor, Tensor]:
    """``Y`` (``n x m``) and a finite reference point of length ``m``, as tensors; a NaN
    reference point would make every hypervolume silently 0."""
    Y = as_tensor(Y, "Y")
    ref_point = as_tensor(ref_point, "ref_point")
    if ref_point.shape != Y.shape[-1:]:
        raise ValueError(
            f"ref_point must have length m={Y.shape[-1]}, got shape {tuple(ref_point.shape)}"
        )
    if not torch.isfinite(ref_point).all():
        raise ValueError(f"ref_point must be finite, got {ref_point.tolist()}")
    return Y, ref_point


def hypervolume_difference(hv: float | Tensor, max_hv: float) -> Tensor:
    """``max_hv - hv``, clipped at 0 (a hypervolume can exceed a rounded ``max_hv``)."""
    return (max_hv - torch.as_tensor(hv, dtype=DTYPE)).clamp_min(0.0)


def log_hypervolume_difference(hv: float | Tensor, max_hv: float) -> Tensor:
    """``log10(max_hv - hv)``, floored at ``log10(LOG_FLOOR)``."""
    return torch.log10(hypervolume_difference(hv, max_hv).clamp_min(LOG_FLOOR))


def igd(Y: Tensor, reference_front: Tensor) -> float:
    """Inverted generational distance: the mean, over the points of ``reference_front``
    (``r x m``, ``r >= 1`` finite rows), of the Euclidean distance to the nearest finite
    row of ``Y`` (``n x m``; inf if it has none).

    Lower is better; 0 means ``Y`` covers the reference front. Objectives are not
    rescaled, so give comparable units (as pymoo's ``IGD`` indicator does).
    """
    Y = as_tensor(Y, "Y")
    reference_front = as_tensor(reference_front, "reference_front")
    if reference_front.dim() != 2 or reference_front.shape[-1] != Y.shape[-1]:
        raise ValueError(
            f"reference_front must have shape r x {Y.shape[-1]}, got {tuple(reference_front.shape)}"
        )
    # Its mean is over every row: an empty or NaN row made the IGD a silent NaN.
    bad = (~torch.isfinite(reference_front).all(dim=-1)).nonzero().flatten().tolist()
    if reference_front.shape[0] == 0 or bad:
        got = f"rows {bad} hold NaN or inf" if bad else "no rows"
        raise ValueError(f"reference_front must be r >= 1 rows of finite values, got {got}")
    Y = Y[_finite_rows(Y)]
    if Y.shape[0] == 0:
        return math.inf
    return float(
        torch.cdist(reference_front, Y, compute_mode="donot_use_mm_for_euclid_dist")
        .min(dim=-1)
        .values.mean()
    )
