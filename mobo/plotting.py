"""Matplotlib figures of studies: the Pareto front and the hypervolume trace.

Objectives are drawn in their natural sign (a minimized objective as a cost), as
:meth:`mobo.Problem.natural` gives them. Under black-box constraints the front and the
hypervolume are of the feasible points, and infeasible evaluations are drawn apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from mobo.metrics import cost_rounding, hypervolume_within
from mobo.result import Result


def plot_pareto_front(
    result: Result,
    *,
    ax: plt.Axes | None = None,
    objectives: tuple[int, int] = (0, 1),
    reference_front: Tensor | None = None,
    label: str | None = None,
) -> plt.Axes:
    """Scatter every evaluation (infeasible ones apart, as red crosses, those below the
    target fidelity as triangles, red tripods if infeasible there) and draw the (feasible,
    target-fidelity) Pareto front of two objectives: for two objectives the attained
    staircase through its points; for more, the Pareto set's points projected on the two
    shown, without a line.

    Args:
        result: A study's result.
        ax: Axes to draw on (a new figure if None).
        objectives: Which two objectives to show.
        reference_front: Optional ``r x m`` tensor (maximized objectives) of a known or
            reference front, drawn as a line.
        label: Legend label of the front (default: the algorithm's name).
    """
    i, j = objectives
    problem = result.problem
    m = problem.num_objectives
    if not all(isinstance(k, int) and 0 <= k < m for k in (i, j)) or i == j:
        raise ValueError(f"objectives must be two indices in 0..{m - 1}, got {objectives}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    Y = problem.natural(result.Y[result.counted])
    pareto = result.pareto_Y[torch.argsort(problem.natural(result.pareto_Y)[:, i])]
    front = problem.natural(pareto)
    feasible = "feasible" if problem.num_constraints else "evaluated"
    ax.scatter(Y[:, i], Y[:, j], s=12, alpha=0.35, color="0.5", label=feasible)
    # A cheap evaluation can misjudge feasibility (a biased constraint): infeasible ones
    # below the target are drawn apart from those at the target, which is what counts.
    at_target = problem.at_target(result.X)
    infeasible = ~result.failed & ~result.feasible
    if (infeasible & at_target).any():
        bad = problem.natural(result.Y[infeasible & at_target])
        ax.scatter(
            bad[:, i], bad[:, j], s=14, marker="x", alpha=0.5, color="tab:red", label="infeasible"
        )
    lower = result.feasible & ~at_target
    if lower.any():
        low = problem.natural(result.Y[lower])
        ax.scatter(low[:, i], low[:, j], s=12, marker="^", alpha=0.35, label="lower fidelity")
    if (infeasible & ~at_target).any():
        bad = problem.natural(result.Y[infeasible & ~at_target])
        ax.scatter(
            bad[:, i], bad[:, j], s=14, marker="1", alpha=0.5, color="tab:red",
            label="infeasible, lower fidelity",
        )  # fmt: skip
    if m == 2:
        # The attained staircase: between two neighbours, the corner worse in both
        # objectives (each objective's minimum, mobo maximizing). A fixed drawstyle put the
        # corner on the unattained side when one objective is minimized (accuracy/energy).
        path = list(pareto[:1])
        for a, b in zip(pareto[:-1], pareto[1:], strict=True):
            path += [torch.minimum(a, b), b]
        path = problem.natural(torch.stack(path)) if path else front
        (line,) = ax.plot(path[:, i], path[:, j], "-", label=label or f"{result.algorithm} front")
        ax.plot(front[:, i], front[:, j], "o", ms=5, color=line.get_color())
    else:
        # Projected on two of m objectives the Pareto set is no front: most of its points
        # are dominated in the two shown, and a staircase through them went up and down.
        default = f"{result.algorithm} Pareto set (projection of {m} objectives)"
        ax.plot(front[:, i], front[:, j], "o", ms=5, label=label or default)
    if reference_front is not None:
        ref = problem.natural(torch.as_tensor(reference_front, dtype=torch.float64))
        ref = ref[torch.argsort(ref[:, i])]
        ax.plot(ref[:, i], ref[:, j], "-", color="k", lw=1, alpha=0.7, label="reference front")
    ax.set_xlabel(f"{problem.objective_names[i]} ({problem.senses[i]})")
    ax.set_ylabel(f"{problem.objective_names[j]} ({problem.senses[j]})")
    ax.set_title(f"{problem.name}: {'feasible ' if problem.num_constraints else ''}Pareto front")
    ax.legend(fontsize=8)
    return ax


def median_over_seeds(values: Tensor) -> Tensor:
    """The median over seeds of ``seeds x n`` traces: an ``n`` tensor, the mean of the
    middle two for an even number of seeds, as the tables print (``statistics.median``).

    torch's ``median`` is the lower middle value (for two seeds, the worse run), and its
    ``quantile(0.5)`` is NaN where the middle two are infinite (an IGD trace before the
    first finite evaluation): ``inf`` and ``(x, inf)`` give ``inf`` here. A NaN in a column
    makes its median NaN. Plots and benchmarks all draw this one.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    ordered = values.sort(dim=0).values
    n = values.shape[0]
    low, high = ordered[(n - 1) // 2], ordered[n // 2]
    median = low / 2 + high / 2  # halves first: exact, no overflow, and inf stays inf
    return torch.where(values.isnan().any(dim=0), math.nan, median)


def plot_median_traces(
    ax: plt.Axes,
    traces: Mapping[str, Tensor],
    *,
    band: str = "quartiles",
    x: Tensor | None = None,
    steps: bool = False,
) -> plt.Axes:
    """Per label, the median over seeds (the mean of the middle two for an even number) of
    ``seeds x n`` traces against ``x`` (an ``n`` tensor; default evaluations ``1..n``),
    with a band over seeds (``"quartiles"`` or ``"range"``: min to max) when there are
    several; ``steps`` draws step functions (a value holds until the next point).
    Benchmarks and :func:`plot_hypervolume_trace` draw with it."""
    if band not in ("quartiles", "range"):
        raise ValueError(f"band must be 'quartiles' or 'range', got {band!r}")
    for label, values in traces.items():
        values = torch.as_tensor(values, dtype=torch.float64)
        at = torch.arange(1, values.shape[-1] + 1) if x is None else x
        drawstyle = "steps-post" if steps else "default"
        (line,) = ax.plot(at, median_over_seeds(values), label=label, drawstyle=drawstyle)
        if values.shape[0] > 1:
            if band == "range":
                low, high = values.min(dim=0).values, values.max(dim=0).values
            else:
                low, high = torch.quantile(
                    values, torch.tensor([0.25, 0.75], dtype=values.dtype), dim=0
                )
            step = "post" if steps else None
            ax.fill_between(at, low, high, color=line.get_color(), alpha=0.2, step=step)
    return ax


def plot_hypervolume_trace(
    results: Result | Sequence[Result] | Mapping[str, Sequence[Result]],
    *,
    ax: plt.Axes | None = None,
    log_difference: bool | None = None,
    x: str | None = None,
) -> plt.Axes:
    """Hypervolume (or log10 hypervolume difference) against evaluations or cost spent.

    Args:
        results: One result, a list of results (one line each), or a mapping from a label
            (e.g. an algorithm) to the results of several seeds, drawn as the median with
            an interquartile band.
        ax: Axes to draw on (a new figure if None).
        log_difference: Plot ``log10(max_hv - hv)``; default when every problem has
            ``max_hv``.
        x: ``"evaluations"``, or ``"cost"``: the total cost spent (:attr:`mobo.Result.
            cumulative_cost`), each run's trace a step function of it (its value after the
            last evaluation within that cost, as ``benchmarks/mobo_fidelity.py`` reads its
            runs). Default ``"cost"`` when a problem has
            fidelities: its budget is a cost, and seeds make different numbers of
            evaluations for it.

    A noisy problem's hypervolume is of its noiseless values where it knows them
    (:attr:`mobo.Result.true_hypervolume`), as the regret is. Runs of one label that end
    at different points (evaluations, or cost spent) are drawn as the median up to where
    the shortest ends, then each longer run alone to its end as a thin line, as the legend
    says: cut to the shortest, MF-OSEMO's runs at a cost budget of 6 showed a median final
    hypervolume of 4.0 for one of 25.6.
    """
    if isinstance(results, Result):
        results = [results]
    if not isinstance(results, Mapping):
        # One line each: two runs of one algorithm and seed (on two problems, or with
        # other settings) had one label, and the first was dropped without a word.
        labels = [f"{r.algorithm} (seed {r.seed})" for r in results]
        results = {
            label if labels.count(label) == 1 else f"{label} #{k + 1}": [r]
            for k, (label, r) in enumerate(zip(labels, results, strict=True))
        }
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    all_results = [r for group in results.values() for r in group]
    if log_difference is None:
        log_difference = all(r.problem.max_hv is not None for r in all_results)
    fidelities = any(r.problem.has_fidelities for r in all_results)
    if x is None:
        x = "cost" if fidelities else "evaluations"
    if x not in ("evaluations", "cost"):
        raise ValueError(f"x must be 'evaluations' or 'cost', got {x!r}")
    for label, group in results.items():
        runs = [r for r in group if r.n_evaluations]  # an empty study has no trace to draw
        if not runs:
            ax.plot([], [], label=label)
            continue
        ends = [
            r.cumulative_cost
            if x == "cost"
            else torch.arange(1, r.n_evaluations + 1, dtype=torch.float64)
            for r in runs
        ]
        values = [r.log_hv_difference if log_difference else r.true_hypervolume for r in runs]
        grid, common = _on_common_grid(ends, values)
        longer = [k for k, e in enumerate(ends) if e[-1] > grid[-1]] if len(grid) else []
        if longer:
            label = f"{label} (median to the shortest of {len(runs)} runs; thin: each longer run)"
        plot_median_traces(ax, {label: common}, x=grid, steps=x == "cost")
        color = ax.lines[-1].get_color()
        for k in longer:
            later = ends[k] > grid[-1]
            tail_x = torch.cat([grid[-1:], ends[k][later]])
            tail_y = torch.cat([common[k, -1:], values[k][later]])
            drawstyle = "steps-post" if x == "cost" else "default"
            ax.plot(tail_x, tail_y, color=color, lw=0.8, alpha=0.7, drawstyle=drawstyle)
    ax.set_xlabel("total cost" if x == "cost" else "evaluations")
    noiseless = any(r.true_hypervolume is not r.hypervolume for r in all_results)
    feasible = "feasible " if any(r.problem.num_constraints for r in all_results) else ""
    kind = f"{'noiseless ' if noiseless else ''}{feasible}hypervolume"
    if fidelities:
        kind += " at the target fidelity"
    ax.set_ylabel(f"log10 {kind} difference" if log_difference else kind)
    ax.set_title(all_results[0].problem.name if all_results else "")
    ax.legend(fontsize=8)
    return ax


def _on_common_grid(ends: list[Tensor], values: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Runs' traces (``values[k][e]``: after evaluation ``e``, which ends at the increasing
    ``ends[k][e]``, an evaluation count or a cumulative cost) on every run's ends from
    where all have begun to where the shortest ends: a ``g`` grid and a ``runs x g`` tensor,
    each run's value at a point its value after its last evaluation within it. Ends equal
    up to rounding (:func:`mobo.metrics.cost_rounding`) are one grid point, the largest: the
    same prices summed in another order end a run an ulp later, and it counted as longer,
    its last evaluation left out of the median."""
    all_ends = torch.cat(ends).unique()  # sorted
    tolerance = cost_rounding(float(all_ends[-1].abs()))
    grid = all_ends[torch.cat([all_ends.diff() > tolerance, torch.tensor([True])])]
    first = max(float(e[0]) for e in ends)
    last = min(float(e[-1]) for e in ends)
    grid = grid[(grid >= first) & (grid <= last + tolerance)]  # a cluster's largest end
    return grid, torch.stack(
        [hypervolume_within(e, v, grid) for e, v in zip(ends, values, strict=True)]
    )
