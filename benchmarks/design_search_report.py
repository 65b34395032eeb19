"""Tables and the figure of ``design_search.py``'s results (issue 17): the summary per
network and method, hypervolume over charged time, and the fronts coloured by design.
Apart from the search so that a newcomer reads what is run and what is reported separately.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path


def algorithm(run_label: str) -> str:
    """The algorithm a run label names (:func:`label`'s inverse): ``qlognehvi+dense5`` ->
    ``qlognehvi``."""
    return run_label.split("+")[0]


def summary(runs: list[dict], networks: dict) -> str:
    """Per network and method: the seeds, the evaluated front's test HV at the budget (the
    equal-wall-time figure), and the final figures, which also count the design whose
    training crossed the budget (the budget is checked after each evaluation, and that
    overshoot differs by method: a single-fidelity search's last design is its dearest)."""
    lines = [
        "| network | hand-fixed | method | seeds | n_initial | test HV at budget | "
        "final evaluated test HV | final polished test HV | designs | evaluations | "
        "charged s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, network in networks.items():
        fixed = network["test_hv"]
        methods = sorted({r["method"] for r in runs if r["network"] == name})
        for method in methods:
            rs = [r for r in runs if r["network"] == name and r["method"] == method]
            at_budget = "-"
            if all(r.get("trajectory") for r in rs):
                at_budget = _spread_of([_hv_at(r, r["budget"]) for r in rs])
            lines.append(
                f"| {name} | {fixed:.5f} | {method} | {seed_list(rs)} | "
                f"{_initial(rs)} | {at_budget} | "
                f"{_spread(rs, 'test_hv_evaluated')} | {_spread(rs, 'test_hv_polished')} | "
                f"{_spread(rs, 'designs', 'd')} | "
                f"{_spread(rs, 'evaluations', 'd')} | {_spread(rs, 'charged_seconds', '.0f')} |"
            )
    return "\n".join(lines)


def seed_list(runs: list[dict]) -> str:
    """The runs' seeds, ranges collapsed (``0-4, 7``): rows over other seeds are not
    compared by their medians alone."""
    seeds, parts = sorted({r["seed"] for r in runs}), []
    for seed in seeds:
        if parts and seed == parts[-1][1] + 1:
            parts[-1][1] = seed
        else:
            parts.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


#: Shares of the budget at which the time table reports each run's hypervolume.
TIME_SHARES = (0.25, 0.5, 0.75, 1.0)


def _hv_at(run: dict, seconds: float) -> float:
    """The run's evaluated-front test hypervolume once it had charged ``seconds`` (0 before
    its first target-fidelity evaluation)."""
    hv = 0.0
    for point in run["trajectory"]:
        if point["charged_seconds"] > seconds:
            break
        hv = point["test_hv_evaluated"]
    return hv


def _seconds_to(run: dict, target: float) -> float | None:
    for point in run["trajectory"]:
        if point["test_hv_evaluated"] >= target:
            return point["charged_seconds"]
    return None


def _target(runs: list[dict], method: str, seeds: set[int]) -> float | None:
    """The median test HV at the budget of ``method``'s runs of ``seeds`` (None without
    any): the single-fidelity search's figure a row is timed against, on the row's seeds."""
    values = [_hv_at(r, r["budget"]) for r in runs if r["method"] == method and r["seed"] in seeds]
    return statistics.median(values) if values else None


#: The time table's note on rows it cannot time against a baseline.
NO_BASELINE = (
    '"-" in all three of a baseline\'s columns: the row shares no seed with that baseline '
    "(none of its runs on this network has the row's seeds), so there is no target to time "
    "it against; not a run that never reached one."
)


def time_table(runs: list[dict], networks: dict) -> str:
    """Evaluated-front test HV at shares of the budget, and the charged seconds each method
    took to reach each single-fidelity qLogNEHVI label's median HV at the budget
    (``qlognehvi``, and ``qlognehvi+dense<K>``, the matched baseline of
    ``mfosemo+dense<K>``), taken over the seeds the row shares with it: the median over
    the runs that reached it, how many did, and the median over all runs, a run that never
    reached it counting as slower than any that did ("never" when the median run did not);
    "-" in all three when the row shares no seed with the baseline (:data:`NO_BASELINE`).
    The first alone favours a method that seldom reaches the target but quickly when it
    does; the last is the time-to-target a user can expect from one run."""
    timed = [r for r in runs if r.get("trajectory")]
    baselines = sorted({r["method"] for r in timed if algorithm(r["method"]) == "qlognehvi"})
    lines = [
        "| network | method | runs | "
        + " | ".join(f"HV at {share:.0%} of budget" for share in TIME_SHARES)
        + "".join(
            f" | s to reach {b}'s median at budget | reached | median s, all runs"
            for b in baselines
        )
        + " |",
        "|---|---|---|" + "---|" * (len(TIME_SHARES) + 3 * len(baselines)),
    ]
    unmatched = False
    for name in networks:
        mine = [r for r in timed if r["network"] == name]
        for method in sorted({r["method"] for r in mine}):
            rs = [r for r in mine if r["method"] == method]
            targets = [_target(mine, b, {r["seed"] for r in rs}) for b in baselines]
            cells = [
                f"{statistics.median(_hv_at(r, share * r['budget']) for r in rs):.5f}"
                for share in TIME_SHARES
            ]
            for target in targets:
                if target is None:  # no baseline run on the row's seeds: nothing to time
                    cells += ["-", "-", "-"]
                    unmatched = True
                    continue
                times = [_seconds_to(r, target) for r in rs]
                reach = [t for t in times if t is not None]
                everyone = statistics.median(math.inf if t is None else t for t in times)
                cells += [
                    f"{statistics.median(reach):.0f}" if reach else "-",
                    f"{len(reach)} of {len(rs)}",
                    "never" if math.isinf(everyone) else f"{everyone:.0f}",
                ]
            lines.append(f"| {name} | {method} | {len(rs)} | " + " | ".join(cells) + " |")
    if unmatched:
        lines += ["", NO_BASELINE]
    return "\n".join(lines)


def _initial(runs: list[dict]) -> str:
    """The runs' initial Sobol sizes ('-' for Sobol itself, which is all Sobol; runs before
    --n-initial had mobo's default, 20)."""
    if all(algorithm(r["method"]) == "sobol" for r in runs):
        return "-"
    return ",".join(sorted({str(r.get("n_initial", 20)) for r in runs}))


def _spread(runs: list[dict], key: str, fmt: str = ".5f") -> str:
    return _spread_of([r[key] for r in runs], fmt)


def _spread_of(values: list[float], fmt: str = ".5f") -> str:
    """``median (min-max)`` of ``values`` in ``fmt``; counts (``d``) whose median falls
    between two print it as it is (5.5), not rounded to one of them."""
    med = statistics.median(values)
    shown = f"{med:g}" if fmt == "d" else f"{med:{fmt}}"
    return f"{shown} ({min(values):{fmt}}-{max(values):{fmt}})"


def markdown(runs: list[dict], networks: dict, figure: Path | None = None) -> str:
    """The results file: provenance, the summary table, the time table (runs that recorded
    their trajectory) and a link to ``figure``."""
    commits = ", ".join(sorted({r["commit"] for r in runs}))
    commands = sorted({r["command"] for r in runs})
    # The same seed can end differently on another machine: say where each row ran.
    where: dict[str, set[str]] = {}
    for r in runs:
        where.setdefault(r.get("machine", "unrecorded"), set()).add(r["network"])
    for name, network in networks.items():
        where.setdefault(network.get("machine", "unrecorded"), set()).add(name)
    machines = "; ".join(f"{m} ({', '.join(sorted(n))})" for m, n in where.items())
    text = [
        "# Design search vs the hand-fixed design and random design search (issue 17)",
        "",
        "Commands: " + ", ".join(f"`{c}`" for c in commands),
        "",
        f"Commits of the runs: {commits}. Torch on 1 thread. See the script's docstring "
        "for what each column measures; median (min-max) over search seeds.",
        "",
        f"Machines of the runs and of the hand-fixed designs: {machines}.",
        "",
    ]
    walled = [r for r in runs if r.get("ask_clock") != "cpu"]
    if walled:  # their budget counted the asks' wall time (see design_search.ask_seconds)
        text += [
            f"{len(walled)} of {len(runs)} runs record no ask clock: made before 2026-12-06, "
            "their budget charged the asks' wall time, not their CPU time, beside the "
            "training CPU time.",
            "",
        ]
    text += [
        summary(runs, networks),
        "",
    ]
    if any(r.get("trajectory") for r in runs):
        text += [
            "Over time (runs that recorded their trajectory): the evaluated front's test "
            "hypervolume once the run had charged a share of its budget (at 100%: the "
            "evaluations that ended within the budget; the final figure above also counts "
            "the one that crossed it), and the charged seconds it took to reach the median "
            "test HV at the budget of qLogNEHVI at full fidelity, plain and told the same "
            "dense-front points, over the seeds the row shares with it (the multi-fidelity "
            "claim of issue 17): the median over the "
            "runs that reached it, how many did, and the median over all runs, a run that "
            "never did counting as never (the time a user can expect). A front's test HV can "
            "fall as it grows: a new validation-Pareto point can displace one that did better "
            "on test.",
            "",
            time_table(runs, networks),
            "",
        ]
    if figure is not None:
        text += [f"![fronts]({figure.name})", ""]
    return "\n".join(text)


def plotted_seed(runs: list[dict], name: str) -> int | None:
    """The seed whose fronts the plot draws for network ``name``: its lowest seed with a
    recorded front (0 for the first runs; runs of seeds 5-9 alone drew no front before)."""
    seeds = [r["seed"] for r in runs if r["network"] == name and r.get("front")]
    return min(seeds) if seeds else None


def plot(runs: list[dict], networks: dict, path: Path) -> None:
    """Per network: the hand-fixed design's test front, and each method's polished front on
    test for one seed (:func:`plotted_seed`), every point coloured by its design."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(networks)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        fixed = networks[name]["front"]
        order = sorted(range(len(fixed["energy_ratio"])), key=fixed["energy_ratio"].__getitem__)
        ax.step(
            [fixed["energy_ratio"][i] for i in order],
            [fixed["accuracy"][i] for i in order],
            where="post",
            color="black",
            label="hand-fixed 5-level design",
        )
        markers = iter("os^vD")
        seed = plotted_seed(runs, name)
        for run in sorted(
            (r for r in runs if r["network"] == name and r["seed"] == seed and r.get("front")),
            key=lambda r: r["method"],
        ):
            marker = next(markers, "o")
            for design in sorted({p["design"] for p in run["front"]}):
                pts = [p for p in run["front"] if p["design"] == design]
                ax.scatter(
                    [p["test_energy_ratio"] for p in pts],
                    [p["test_accuracy"] for p in pts],
                    marker=marker,
                    s=24,
                    label=f"{run['method']}: {design}",
                )
        ax.set_title(f"{name} (test split, seed {seed})")
        ax.set_xlabel("energy ratio (vs the pretrained network)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
