"""The reference front: the best front any optimizer can reach on cached level records, by
dense search (:func:`reference_front`). Threshold-search figures are hypervolume ratios
against it (``ThresholdProblem.max_hv``), so it is searched twice, independently, and
checked against itself.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from tqdm.auto import tqdm

from leanet.evaluator import (
    ThresholdEvaluator,
    ThresholdMetrics,
    energy_ratio,
    exit_costs,
    exit_levels,
)
from leanet.train_loop import bar_off
from mobo.metrics import hypervolume


class ReferenceFrontWarning(UserWarning):
    """The reference front's two independent searches disagree: it may miss hypervolume,
    which would inflate every ratio measured against it (raise ``n_samples``)."""


def reference_front(
    evaluator: ThresholdEvaluator,
    *,
    n_samples: int = 100_000,
    polish_points: int = 1024,
    polish_rounds: int = 3,
    seed: int = 0,
    ref_point: Tensor | None = None,
    progress: bool = True,
) -> tuple[ThresholdMetrics, dict[str, float]]:
    """The best front any optimizer can reach on the cached data, by dense search.

    Two independently seeded searches, each:

    1. ``n_samples / 2`` scrambled Sobol points in ``[0, 1]^(L-1)`` and as many breakpoint
       samples: each threshold drawn from that level's observed confidences (the only values
       where the objectives change; 1 taken as ``1 - 1e-12``), plus 0 and 1;
    2. coordinate polish: for each point of its front, each threshold swept over its level's
       confidences (or ``polish_points`` quantiles of them, if more), repeated up to
       ``polish_rounds`` times while the front changes. Each sweep's objectives are counted
       in one pass over the inputs, and only vectors no other point beats are evaluated
       (:func:`_sweep_survivors`): the same front, bit for bit, as evaluating every vector of
       every sweep, which took 60 s for 1024 inputs and 5 levels where this takes 3.5 s
       (``benchmarks/results/front_top.md``).

    The front is their union. On 6-level LEANets one search can settle on a local front (5%
    of the hypervolume short, at points two or more thresholds away from its own), so the
    check compares each search with the union: a check against the union of their own
    unpolished halves read 0.9995 there.

    Args:
        evaluator: The cached evaluator.
        n_samples: Samples per search (half Sobol, half breakpoint).
        polish_points: Most values per coordinate in the polish.
        polish_rounds: Most polish rounds.
        seed: Seed of both searches (deterministic for a given seed).
        ref_point: The check's reference point, (accuracy, -energy ratio): a problem's own
            (:class:`leanet.problem.ThresholdProblem` passes it). None: (0, -max exit cost ratio),
            so lenient that it hid a 60 times larger gap on the front's top. A point no
            front point beats in both objectives is refused (``ValueError``).
        progress: Show a progress bar over the searches' stages (on a terminal only): at
            thousands of inputs the search takes tens of seconds.

    Returns:
        The union of both searches' fronts (sorted by energy) and a check: the hypervolume of
        each search's front relative to the union's (``first_ratio``, ``second_ratio``), from
        ``ref_point``. Both near 1 means independent searches agree; below 0.99 also warns.
    """
    d = evaluator.num_levels - 1
    values = [
        # a confidence of exactly 1 taken just below 1 (it exits there in float32), as the
        # quantile space's knots do: at 1 the level is off and those inputs never exit
        torch.cat([torch.tensor([0.0, 1.0]), c.double().clamp(max=1 - 1e-12)]).unique()
        for c in evaluator.confidence[:d]
    ]
    grids = [
        v
        if len(v) <= polish_points
        else torch.quantile(v, torch.linspace(0, 1, polish_points).double())
        for v in values
    ]
    stages = tqdm(
        total=2 * (1 + polish_rounds),
        desc=f"reference front ({evaluator.num_inputs} inputs)",
        unit="stage",
        disable=bar_off(progress),
        leave=False,
    )
    with stages:
        fronts = {
            name: _search(evaluator, values, grids, n_samples // 2, s, polish_rounds, stages)
            for name, s in (("first", 2 * seed), ("second", 2 * seed + 1))
        }
    front = ThresholdMetrics.concat(list(fronts.values())).pareto()
    given = ref_point is not None
    if not given:
        ref_point = [0.0, -float(evaluator.exit_cost.max() / evaluator.full_cost)]
    ref = torch.as_tensor(ref_point, dtype=torch.float64)
    total = hypervolume(front.objectives(), ref)
    if total == 0 and not given:
        # The default point lies below every front but these: the advice below, about a
        # point the caller passed, was given to one who passed none.
        cheapest, costliest = float(front.energy_ratio.min()), -float(ref[1])
        if float(front.accuracy.max()) <= 0:
            cause = (
                "the LEANet is right on no input of these records (accuracy 0 at every "
                "threshold): check that the labels are those of the data set it was "
                "trained on"
            )
        elif cheapest >= costliest:
            cause = (
                f"no exit costs less than the costliest (energy ratio {costliest:.4g}): "
                "there is no tradeoff to search"
            )
        else:
            cause = (
                f"every point cheaper than the costliest exit (energy ratios down to "
                f"{cheapest:.4g}) is right on no input, so only the costliest answers "
                "any input right: too few records, or levels below the top that were not "
                "trained; give a ref_point to search anyway"
            )
        raise ValueError(
            f"the reference front has hypervolume 0 from the default reference point "
            f"{ref.tolist()} (accuracy 0, the costliest exit's energy ratio): {cause}"
        )
    if total == 0:
        # The ratios below would divide by 0; mobo counts only points beating the reference
        # in every objective, so the usual cause is energy given in its natural sign.
        raise ValueError(
            f"no point of the reference front beats ref_point {ref.tolist()} (accuracy, "
            f"-energy ratio) in both objectives, so its hypervolume is 0: the front reaches "
            f"accuracies up to {float(front.accuracy.max()):.4g} and energy ratios down to "
            f"{float(front.energy_ratio.min()):.4g}; give the energy ratio negated "
            "(-1.0 bounds energy by the full network's) and a point worse than the front's"
        )
    check = {f"{k}_ratio": hypervolume(f.objectives(), ref) / total for k, f in fronts.items()}
    if min(check.values()) < 0.99:
        warnings.warn(
            f"reference_front: two independent searches disagree ({check}): the front may miss "
            "hypervolume; raise n_samples or union more seeds",
            ReferenceFrontWarning,
            stacklevel=2,
        )
    return front, check


def _search(evaluator, values, grids, n, seed, rounds, stages) -> ThresholdMetrics:
    """One seeded search of :func:`reference_front`: samples, corners, then polish; one
    ``stages`` step (a tqdm bar) each, and the rounds it skips when the front settles."""
    d = len(values)
    generator = torch.Generator().manual_seed(seed)
    sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n, dtype=torch.float64)
    breakpoints = torch.stack(
        [v[torch.randint(len(v), (n,), generator=generator)] for v in values], dim=-1
    )
    # The corners too: every input at the last level (the pretrained network for a hybrid)
    # and every input at the first. Random samples hit all thresholds at 1.0 with chance
    # (1/(n+2))^(L-1), and a 4-level design's front topped out at energy 1.039 where 1.0
    # reached the same accuracy.
    corners = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    front = evaluator.evaluate(torch.cat([sobol, breakpoints, corners])).pareto()
    stages.update()
    todo, swept = front.thresholds, set()
    for done in range(rounds):
        points = []
        for t in todo:
            if tuple(t.tolist()) in swept:  # same sweeps, same results: only new points
                continue
            swept.add(tuple(t.tolist()))
            points.append(t)
        if not points:
            stages.update(rounds - done)
            break
        kept = _sweep_survivors(evaluator, torch.stack(points), grids, front)
        front = ThresholdMetrics.concat([front, evaluator.evaluate(kept)]).pareto()
        todo = front.thresholds
        stages.update()
    return front


def _sweep_survivors(evaluator, points, grids, front) -> Tensor:
    """The sweep vectors of ``points`` (each point with one threshold ``i`` set to each value
    of ``grids[i]``, in the order point, ``i``, value) that may be on the Pareto front of
    ``front`` and the sweeps together; the others are strictly dominated, so dropping them
    leaves that front as it is, bit for bit, while only the few kept are evaluated.

    A sweep's objectives come from one pass over the inputs, not one per value: along
    threshold ``i`` the levels before ``i`` take the same inputs, and an input that reaches
    level ``i`` and does not exit there exits where it would with level ``i`` off. So, with
    the inputs sorted by level ``i``'s confidence, the exits at each value are prefix counts.
    Counts are exact; energies are summed in another order than :meth:`ThresholdEvaluator.
    evaluate`, so a vector is dropped only when a point at least as accurate is cheaper by
    more than a margin far above that rounding."""
    conf, correct = evaluator.confidence, evaluator.correct
    L, N = conf.shape
    n_points = points.shape[0]
    scale = max(1.0, float(front.energy_ratio.abs().max()) if len(front) else 1.0)
    margin = 1e-9 * scale  # the rounding is about L ulps of the energy ratio
    longest = max(len(g) for g in grids)
    kept = []
    for i, grid in enumerate(grids):
        order = torch.argsort(conf[i], stable=True)
        position = torch.searchsorted(conf[i][order].contiguous(), grid.to(conf.dtype))
        position = torch.where(grid < 1.0, position, N)  # 1.0: level off, nobody exits there
        right_sorted = correct[:, order].T.to(torch.int32)  # N x L
        answers_i = correct[i, order].to(torch.int32)
        step = max(1, 2**22 // (N * L))  # points per block: bounds the N x L prefix counts
        for start in range(0, n_points, step):
            block = points[start : start + step]
            off = block.clone()
            off[:, i] = 1.0
            alt = exit_levels(conf, off)[:, order]  # exit level if level i takes nobody
            onehot = torch.nn.functional.one_hot(alt, L).to(torch.int32)  # B x N x L
            zero = onehot.new_zeros(block.shape[0], 1, L)
            counts_upto = torch.cat([zero, onehot.cumsum(1, dtype=torch.int32)], 1)
            right_upto = torch.cat([zero, (onehot * right_sorted).cumsum(1, dtype=torch.int32)], 1)
            later = (alt > i).to(torch.int32)  # could exit at level i
            later_right = torch.cat(
                [zero[..., 0], (later * answers_i).cumsum(1, dtype=torch.int32)], 1
            )
            later_all = torch.cat([zero[..., 0], later.cumsum(1, dtype=torch.int32)], 1)
            # inputs below the value (sorted positions < position) go on; the rest exit at i
            counts = counts_upto[:, position]  # B x G x L
            right = right_upto[:, position]
            counts[..., :i] = counts_upto[:, N, None, :i]
            right[..., :i] = right_upto[:, N, None, :i]
            counts[..., i] = later_all[:, N, None] - later_all[:, position]
            right[..., i] = later_right[:, N, None] - later_right[:, position]
            T = block.unsqueeze(1).repeat(1, len(grid), 1)
            T[..., i] = grid
            T = T.reshape(-1, L - 1)
            cost = exit_costs(T, evaluator.exit_cost, evaluator.standalone, evaluator.head_cost)
            acc = right.reshape(-1, L).double().sum(-1) / N
            e = energy_ratio(
                (counts.reshape(-1, L).double() / N * cost).sum(-1), evaluator.full_cost
            )
            # the point, threshold and value of each vector: the order the sweeps had
            at = (torch.arange(start, start + len(block)) * len(grids) + i) * longest
            at = (at.unsqueeze(1) + torch.arange(len(grid))).reshape(-1)
            keep = ~_dominated(
                e, acc, torch.cat([front.energy_ratio, e]), torch.cat([front.accuracy, acc]), margin
            )
            outcome = torch.cat([right.sum(-1, keepdim=True), counts], -1).reshape(-1, L + 1)
            kept.append((T[keep], acc[keep], e[keep], at[keep], outcome[keep]))
    T, acc, e, at, outcome = (torch.cat(parts) for parts in zip(*kept, strict=True))
    keep = ~_dominated(e, acc, e, acc, margin)  # a sweep dominated by another point's sweep
    T, at, outcome = T[keep], at[keep], outcome[keep]
    order = torch.argsort(at)
    T, outcome = T[order], outcome[order]
    # Equal outcomes (inputs answered right, exits per level, levels off) give equal metrics,
    # and of equal metrics the Pareto filter keeps the first: the front's, or the first sweep's.
    known = torch.cat(
        [
            (front.accuracy * N).round().long().unsqueeze(-1),
            (front.exit_fraction * N).round().long(),
        ],
        -1,
    )
    keys = torch.cat(
        [torch.cat([known, outcome.long()]), torch.cat([front.thresholds, T]) >= 1.0], -1
    )
    _, group = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((int(group.max()) + 1 if len(group) else 0,), len(group))
    first = first.scatter_reduce(0, group, torch.arange(len(group)), "amin")
    is_first = first[group] == torch.arange(len(group))
    return T[is_first[len(front) :]]


def _dominated(energy, accuracy, others_energy, others_accuracy, margin) -> Tensor:
    """Which (energy ratio, accuracy) pairs some other pair strictly dominates for certain:
    at least as accurate and cheaper by more than ``2 * margin`` (each energy may be off by
    ``margin``)."""
    by_energy = torch.argsort(others_energy)
    best_accuracy = torch.cummax(others_accuracy[by_energy], 0).values
    cheaper = torch.searchsorted(others_energy[by_energy].contiguous(), energy - 2 * margin)
    return (cheaper > 0) & (best_accuracy[(cheaper - 1).clamp(min=0)] >= accuracy)
