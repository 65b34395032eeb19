"""Multi-fidelity MOBO: MF-OSEMO and iMOCA with cheap biased fidelities against themselves
at the target fidelity only, and BoTorch's MOMF, hypervolume (target-fidelity evaluations
only) against total cost (issue 16).

Problem: :class:`mobo.problems.multi_fidelity.BiasedFidelityProblem` (BraninCurrin, or
another test problem with ``--problem``, e.g. ConstrainedBraninCurrin, with a fidelity
input, bias 0.5 objective spreads at fidelity 0). MF-OSEMO's variants: discrete levels
0.25 and 1.0 at costs 0.1 and 1.0. iMOCA's (``--variants imoca imoca-target-only``)
and BoTorch's MOMF on it (``momf-continuous``; ``momf`` on the discrete problem):
a continuous fidelity in [0, 1], its cost interpolated through 0.05 at 0, 0.1 at 0.25 (the
discrete problem's cheap level) and 1.0 at the target. Each run starts from ``n_initial``
Sobol points (snapped to the algorithm's levels or fidelity grid for the multi-fidelity
runs, all at the target for the others) and stops once its total cost
reaches ``--budget`` (``Study.optimize(max_cost=)``, which tells MF-OSEMO the budget left;
variant ``mfosemo-untold`` stops by a callback instead, as a study without a cost budget
did before 4911c67). Reported: median and min-max over seeds of the hypervolume reached
within each cost checkpoint, the evaluations made, and the CPU seconds per iteration.

    python benchmarks/mobo_fidelity.py            # all of it: results/mobo_fidelity.*
    python benchmarks/mobo_fidelity.py --quick    # a smoke test
    python benchmarks/mobo_fidelity.py --variants momf --out X --report-only  # X.md again

The ``max_hv`` a report quotes is the problem's when the report is written (the best known
values replaced BoTorch's at f4b86b6); the tables are hypervolumes, which do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

import mobo
from mobo.metrics import hypervolume_within
from mobo.plotting import median_over_seeds
from mobo.problems.multi_fidelity import BiasedFidelityProblem

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"
#: variant -> (algorithm, its options, whether the problem's fidelity is continuous)
VARIANTS = {
    "mfosemo": ("mfosemo", {}, False),
    "mfosemo-untold": ("mfosemo", {}, False),
    "mfosemo-target-only": ("mfosemo", {"target_only": True}, False),
    "imoca": ("imoca", {}, True),
    "imoca-target-only": ("imoca", {"target_only": True}, True),
    "momf": ("momf", {}, False),
    "momf-continuous": ("momf", {}, True),
    "qlognehvi": ("qlognehvi", {}, False),  # single-fidelity: evaluates the target only
    "sobol": ("sobol", {}, False),  # the bar to clear, at the target only
}
CONTINUOUS = {"levels": (0.0, 0.25, 1.0), "costs": (0.05, 0.1, 1.0), "continuous": True}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--problem",
        default="BraninCurrin",
        help="the mobo.problems test problem given the fidelity (e.g. ConstrainedBraninCurrin: "
        "its constraints are biased too, and momf and qlognehvi handle them)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1")
    parser.add_argument("--budget", type=float, default=30.0, help="total cost per run")
    parser.add_argument("--n-initial", type=int, default=10)
    parser.add_argument("--max-evals", type=int, default=120, help="cap on evaluations")
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget 8")
    parser.add_argument(
        "--options",
        type=json.loads,
        default={},
        help='JSON of options for every variant\'s algorithm, e.g. \'{"information": "maxima"}\'',
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=[v for v in VARIANTS if v.startswith("mfosemo")],
        help="run these variants (default: MF-OSEMO's; e.g. without mfosemo-untold for "
        "options that need the budget told, such as target_share)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "mobo_fidelity")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the table and the plot from the runs stored in --out, "
        "under the command and commit the store records for runs that carry none",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget, args.n_initial, args.max_evals = 2, 8.0, 4, 30
        if args.out == RESULTS / "mobo_fidelity":
            args.out = RESULTS / "mobo_fidelity_quick"
    return args


def run_one(variant: str, seed: int, args: argparse.Namespace) -> dict:
    algorithm, options, continuous = VARIANTS[variant]
    problem = BiasedFidelityProblem(args.problem, **(CONTINUOUS if continuous else {}))

    def within_budget(study: mobo.Study, told: list) -> None:
        if study.cost_spent >= args.budget - 1e-9:
            study.stop()

    untold = variant == "mfosemo-untold"
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mobo.optimize(
            problem,
            algorithm,
            n_evals=args.max_evals,
            max_cost=None if untold else args.budget,
            seed=seed,
            show_progress=False,
            callbacks=[within_budget] if untold else (),
            n_initial=args.n_initial,
            **{**args.options, **options},
        )
    return {
        "variant": variant,
        "problem": args.problem,
        "seed": seed,
        "budget": args.budget,
        "n_initial": args.n_initial,
        "cumulative_cost": result.cumulative_cost.tolist(),
        "hypervolume": result.hypervolume.tolist(),
        "at_target": problem.at_target(result.X).tolist(),
        "fidelity": result.X[:, -1].tolist(),
        "max_hv": problem.max_hv,
        "cpu_seconds_per_iteration": (time.process_time() - cpu)
        / max(1, result.n_evaluations - args.n_initial),
    }


def hv_within(run: dict, cost: float) -> float:
    """The hypervolume after the last evaluation whose cumulative cost is within ``cost``."""
    spent, hv = (
        torch.tensor(run[k], dtype=torch.float64) for k in ("cumulative_cost", "hypervolume")
    )
    return float(hypervolume_within(spent, hv, cost))


def checkpoints(args: argparse.Namespace) -> list[float]:
    return [round(args.budget * f, 6) for f in (1 / 3, 2 / 3, 1.0)]


def runs_commits(runs: list[dict], commit: str) -> str:
    """Each commit with the variants run at it (runs from before runs carried their commit:
    "not recorded")."""
    variants: dict[str, list[str]] = {}
    for r in runs:
        at = variants.setdefault(f"`{r['commit']}`" if "commit" in r else "not recorded", [])
        if r["variant"] not in at:
            at.append(r["variant"])
    return "; ".join(f"{c} ({', '.join(v)})" for c, v in variants.items()) or f"`{commit}`"


def write_outputs(args: argparse.Namespace, runs: list[dict], command: str, commit: str) -> None:
    runs = provenance.reported(runs, args.seeds, budget=args.budget, n_initial=args.n_initial)
    name, problem = f"{args.problem}MF", BiasedFidelityProblem(args.problem)
    feasible = "feasible " if problem.num_constraints else ""
    md = [
        "# Multi-fidelity MOBO benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Git commits of the runs: {runs_commits(runs, commit)}",
        "",
        f"Problem: {name} (levels 0.25 / 1.0 at cost 0.1 / 1.0, bias 0.5; for the "
        f"`imoca` and `momf-continuous` variants {name}c, a continuous fidelity in "
        "[0, 1] at a cost interpolated through 0.05 / 0.1 / 1.0 at 0 / 0.25 / 1); seeds "
        f"0..{args.seeds - 1}; {args.n_initial} initial Sobol points; each run stops at total "
        f"cost {args.budget:g}; algorithm options {args.options or 'defaults'}; torch on 1 "
        "thread, shared 2-core machine (nice 5).",
        "",
        "Variants: `mfosemo` stops at the budget by `Study.optimize(max_cost=)`, which tells "
        "MF-OSEMO the cost left before each ask (it then spends the end at the target); "
        "`mfosemo-untold` by a stop callback, untold (every run before 4911c67); "
        "`mfosemo-target-only` evaluates the target fidelity only; `imoca` chooses the "
        "fidelity from its grid of 5 on the continuous problem, `imoca-target-only` "
        "evaluates its target only; `momf` (BoTorch's MOMF) on the discrete problem, "
        "`momf-continuous` on the continuous one; `qlognehvi` and `sobol` evaluate the "
        "target only, as every single-fidelity algorithm does.",
        "",
        f"{(feasible + 'hypervolume').capitalize()} of the target-fidelity evaluations "
        f"reached within each total cost (median, min - max over seeds; {args.problem}'s "
        f"max_hv is {problem.max_hv:.4g}), evaluations made (median) and CPU seconds per "
        "iteration (median).",
        "",
        "| variant | seeds | "
        + " | ".join(f"HV at cost {c:g}" for c in checkpoints(args))
        + " | evaluations (at target) | CPU s/iteration |",
        "|---|---|" + "---|" * len(checkpoints(args)) + "---|---|",
    ]
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        cells = []
        for c in checkpoints(args):
            values = [hv_within(r, c) for r in mine]
            cells.append(f"{statistics.median(values):.4g} ({min(values):.4g} - {max(values):.4g})")
        evals = statistics.median(len(r["hypervolume"]) for r in mine)
        at_target = statistics.median(sum(r["at_target"]) for r in mine)
        cpu = statistics.median(r["cpu_seconds_per_iteration"] for r in mine)
        md.append(
            f"| {variant} | {len(mine)} | " + " | ".join(cells) + f" | {evals:g} ({at_target:g}) "
            f"| {cpu:.2f} |"
        )
    provenance.write_markdown(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    plot(args, runs, args.out.with_suffix(".png"), feasible)


def plot(args: argparse.Namespace, runs: list[dict], path: Path, feasible: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = torch.linspace(0, args.budget, 61).tolist()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        traces = torch.tensor([[hv_within(r, c) for c in grid] for r in mine], dtype=torch.float64)
        (line,) = ax.plot(grid, median_over_seeds(traces), label=variant)  # the table's
        ax.fill_between(
            grid, traces.min(dim=0).values, traces.max(dim=0).values,
            color=line.get_color(), alpha=0.15,
        )  # fmt: skip
    ax.set_xlabel("total cost (target-fidelity evaluations)")
    ax.set_ylabel(f"{feasible}hypervolume at the target fidelity")
    ax.set_title(f"{args.problem}MF: median, min-max over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(1)
    command = provenance.command_line("mobo_fidelity.py", argv)
    commit = provenance.commit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    store = args.out.with_suffix(".json")
    stored = provenance.read_json(store, {"runs": []})
    runs: list[dict] = stored["runs"]
    if args.report_only:
        # Runs from before runs carried their command and commit: the store's last writer's.
        command, commit = stored.get("command", command), stored.get("commit", commit)
        runs = [{"commit": commit, **r} for r in runs]
    others = {r.get("problem", "BraninCurrin") for r in runs} - {args.problem}  # one per file
    if others:
        raise SystemExit(f"{store} holds runs of {sorted(others)}: give another --out")
    # Runs carry their options, commit and command (before, the file's last writer's
    # commit and command were stamped over every run, and a rerun with new options
    # reported the stored runs under them). Every stored variant is tabled under this
    # command's options, so every one is checked, not only --variants (sweep 29: mfosemo's
    # runs at {} were tabled under another variant's {"information": "maxima"}).
    provenance.refuse_other_settings(store, runs, "options", lambda r: args.options)
    done = {(r["variant"], r["seed"], r["budget"], r["n_initial"]) for r in runs}
    for seed in range(args.seeds):
        for variant in args.variants:
            if (variant, seed, args.budget, args.n_initial) in done or args.report_only:
                continue
            run = {**run_one(variant, seed, args), "options": args.options}
            runs.append({**run, "commit": commit, "command": command})
            provenance.write_atomic(
                store, json.dumps({"command": command, "commit": commit, "runs": runs})
            )
            print(
                f"{variant:22s} seed {seed}: HV {run['hypervolume'][-1]:.4g} at cost "
                f"{run['cumulative_cost'][-1]:.3g}, {len(run['hypervolume'])} evaluations",
                flush=True,
            )
            write_outputs(args, runs, command, commit)
    write_outputs(args, runs, command, commit)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
