"""Constrained MOBO: MESMOC against constrained qLogNEHVI, USeMO, NSGA-II and Sobol (issue 16).

For every (problem, algorithm, seed): ``mobo.optimize`` with ``n_initial`` Sobol points, then
one point per iteration up to ``--evals`` evaluations, on BoTorch's constrained test problems
(``ConstrainedBraninCurrin``, ``C2DTLZ2``, ``DiscBrake``). Reported per problem and
algorithm: the median and min-max over seeds of the final *feasible* hypervolume (only
points that satisfy every constraint count), the fraction of the problem's current
``max_hv`` where known (taken when the report is written, not stored with the runs: the
best known values replaced BoTorch's at f4b86b6), the feasible evaluations, and the CPU
seconds per model-based iteration (process CPU time of the run over its iterations after
the initial design; evaluations are free here);
and the median feasible hypervolume at the end of the initial design and after each
quarter of the model-based evaluations, so that where one algorithm gains on another shows
in numbers, not only in the plot. Torch runs on one thread.

    python benchmarks/mobo_constrained.py              # all of it: results/mobo_constrained.*
    python benchmarks/mobo_constrained.py --quick      # a smoke test
    python benchmarks/mobo_constrained.py --rerun mesmoc   # after changing MESMOC
    python benchmarks/mobo_constrained.py --report-only    # tables and plot again, no run

Runs are appended to ``<out>.json`` as they finish and skipped when found there, so an
interrupted run resumes; ``<out>.md`` (with the command and the git commit) and
``<out>.png`` (median feasible hypervolume vs evaluations) are rewritten after every run.
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

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
from mobo_algorithms import (  # noqa: E402  (a sibling script)
    add_rerun_argument,
    add_run_arguments,
    check_run_arguments,
    drop_reruns,
    plot,
    refuse_other_options,
)

RESULTS = Path(__file__).parent / "results"
ALGORITHMS = ["mesmoc", "qlognehvi", "usemo", "nsga2", "sobol"]
PROBLEMS = ["ConstrainedBraninCurrin", "C2DTLZ2", "DiscBrake"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(parser, ALGORITHMS, PROBLEMS, '{"mesmoc": {"num_samples": 3}}')
    parser.add_argument("--quick", action="store_true", help="1 problem, 2 seeds, 14 evals")
    add_rerun_argument(parser)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the tables and the plot from the runs stored in --out",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "mobo_constrained")
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    if args.report_only and args.rerun:
        parser.error("--report-only runs nothing, so it cannot --rerun")
    if args.quick:
        args.problems, args.seeds, args.evals, args.n_initial = PROBLEMS[:1], 2, 14, 10
        if args.out == RESULTS / "mobo_constrained":
            args.out = RESULTS / "mobo_constrained_quick"
    return args


def search(
    problem: mobo.Problem, algorithm: str, seed: int, args: argparse.Namespace, **options
) -> mobo.Result:
    """One run: ``args.n_initial`` Sobol points, then one point per step to ``args.evals``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mobo.optimize(
            problem,
            algorithm,
            n_evals=args.evals,
            seed=seed,
            show_progress=False,
            n_initial=args.n_initial,
            **options,
        )


def run_one(problem_name: str, algorithm: str, seed: int, args: argparse.Namespace) -> dict:
    problem = mobo.problems.make(problem_name)
    options = args.algorithm_options.get(algorithm, {})
    cpu, wall = time.process_time(), time.perf_counter()
    result = search(problem, algorithm, seed, args, **options)
    iterations = max(1, args.evals - args.n_initial)
    return {
        "problem": problem_name,
        "algorithm": algorithm,
        "seed": seed,
        "evals": args.evals,
        "n_initial": args.n_initial,
        "options": options,
        "feasible_hv": result.hypervolume.tolist(),
        "max_hv": problem.max_hv,
        "feasible_evaluations": int(result.feasible.sum()),
        "cpu_seconds_per_iteration": (time.process_time() - cpu) / iterations,
        "wall_seconds": time.perf_counter() - wall,
    }


def checkpoints(args: argparse.Namespace) -> list[int]:
    """The evaluation counts of the over-evaluations table: the end of the initial design
    and each quarter of the model-based evaluations after it."""
    steps = args.evals - args.n_initial
    return sorted({args.n_initial + k * steps // 4 for k in range(5)})


def summarize(runs: list[dict], args: argparse.Namespace) -> list[dict]:
    rows = []
    for problem in args.problems:
        for algorithm in args.algorithms:
            mine = [r for r in runs if r["problem"] == problem and r["algorithm"] == algorithm]
            if not mine:
                continue
            final = [r["feasible_hv"][-1] for r in mine]
            # Today's value: the one stored with the runs may since have been beaten.
            max_hv = max_hv_of(problem)
            rows.append(
                {
                    "problem": problem,
                    "algorithm": algorithm,
                    "seeds": len(mine),
                    "median_hv": statistics.median(final),
                    "min_hv": min(final),
                    "max_hv_seen": max(final),
                    "fraction_of_max": statistics.median(final) / max_hv if max_hv else None,
                    "median_feasible": statistics.median(r["feasible_evaluations"] for r in mine),
                    "cpu_per_iteration": statistics.median(
                        r["cpu_seconds_per_iteration"] for r in mine
                    ),
                    # A trace holds None until the first feasible evaluation: nothing, 0.
                    "median_at": {
                        n: statistics.median(r["feasible_hv"][n - 1] or 0.0 for r in mine)
                        for n in checkpoints(args)
                        if all(len(r["feasible_hv"]) >= n for r in mine)
                    },
                }
            )
    return rows


def max_hv_of(problem: str) -> float | None:
    """``problem``'s best known maximum hypervolume in :mod:`mobo.problems` now."""
    return mobo.problems.make(problem).max_hv


def verdict(rows: list[dict], problems: list[str]) -> list[str]:
    """The issue's done-when, problem by problem."""
    lines = []
    matches = 0
    for problem in problems:
        by = {r["algorithm"]: r["median_hv"] for r in rows if r["problem"] == problem}
        if not {"mesmoc", "qlognehvi", "sobol"} <= set(by):
            continue
        match = by["mesmoc"] >= by["qlognehvi"]
        matches += match
        lines.append(
            f"- {problem}: MESMOC {'matches' if match else 'falls short of'} qLogNEHVI "
            f"({by['mesmoc']:.4g} vs {by['qlognehvi']:.4g}); MESMOC "
            f"{'beats' if by['mesmoc'] > by['sobol'] else 'does not beat'} Sobol, qLogNEHVI "
            f"{'beats' if by['qlognehvi'] > by['sobol'] else 'does not beat'} Sobol "
            f"({by['sobol']:.4g})."
        )
    lines.append(f"- MESMOC matches qLogNEHVI's median on {matches} of {len(lines)} problems.")
    return lines


def algorithms_by(runs: list[dict], key: str, missing: str) -> dict[str, list[str]]:
    """The algorithms whose runs made each value of ``key`` (their ``command``, ``commit``
    or ``machine``), in order of first appearance; a run without it counts as ``missing``."""
    made: dict[str, list[str]] = {}
    for run in runs:
        algorithms = made.setdefault(run.get(key, missing), [])
        if run["algorithm"] not in algorithms:
            algorithms.append(run["algorithm"])
    return made


def write_outputs(
    args: argparse.Namespace, runs: list[dict], command: str, commit: str
) -> list[dict]:
    runs = provenance.reported(runs, args.seeds, evals=args.evals, n_initial=args.n_initial)
    rows = summarize(runs, args)
    md = [
        "# Constrained MOBO benchmark",
        "",
        "Commands of the runs: "
        + "; ".join(
            f"`{made_by}` ({', '.join(algorithms)})"
            for made_by, algorithms in algorithms_by(runs, "command", command).items()
        ),
        "",
        "Git commits of the runs (`--rerun` keeps the other algorithms' runs): "
        + "; ".join(
            f"`{made_at}` ({', '.join(algorithms)})"
            for made_at, algorithms in algorithms_by(runs, "commit", commit).items()
        ),
        "",
        "Machines of the runs (the same seed can end differently on another machine): "
        + "; ".join(
            f"{name} ({', '.join(algorithms)})"
            for name, algorithms in algorithms_by(runs, "machine", "unrecorded").items()
        ),
        "",
        f"Configuration: problems {args.problems}; algorithms {args.algorithms}; seeds "
        f"0..{args.seeds - 1}; {args.n_initial} initial Sobol + {args.evals - args.n_initial} "
        f"sequential evaluations; options {args.algorithm_options or 'defaults'}; torch on 1 "
        "thread, a shared 2-core machine (nice 5).",
        "",
        f"Completed runs: {len(runs)} of {len(args.problems) * len(args.algorithms) * args.seeds}.",
        "",
        "Final feasible hypervolume (only points satisfying every constraint count; higher is "
        "better): median and min-max over seeds, the median as a fraction of the problem's "
        "current `max_hv` where known ("
        + ", ".join(f"{p} {max_hv_of(p):.7g}" for p in args.problems if max_hv_of(p))
        + "), the median number of feasible evaluations, and the median CPU "
        "seconds per model-based iteration.",
        "",
        "| problem | algorithm | seeds | median HV | min - max | of max_hv | feasible evals "
        "| CPU s/iteration |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fraction = f"{r['fraction_of_max']:.3f}" if r["fraction_of_max"] else "-"
        md.append(
            f"| {r['problem']} | {r['algorithm']} | {r['seeds']} | {r['median_hv']:.4g} | "
            f"{r['min_hv']:.4g} - {r['max_hv_seen']:.4g} | {fraction} | "
            f"{r['median_feasible']:g} | {r['cpu_per_iteration']:.2f} |"
        )
    md += [
        "",
        "Over evaluations: median feasible hypervolume after n evaluations (n = the end of "
        "the initial design, then each quarter of the model-based evaluations; 0 before the "
        "first feasible one).",
        "",
        "| problem | algorithm | " + " | ".join(f"n = {n}" for n in checkpoints(args)) + " |",
        "|---|---|" + "---|" * len(checkpoints(args)),
    ]
    for r in rows:
        at = [r["median_at"].get(n) for n in checkpoints(args)]
        md.append(
            f"| {r['problem']} | {r['algorithm']} | "
            + " | ".join("-" if v is None else f"{v:.4g}" for v in at)
            + " |"
        )
    md += ["", "Done-when (issue 16):", "", *verdict(rows, args.problems)]
    provenance.write_markdown(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    plot(
        args,
        runs,
        args.out.with_suffix(".png"),
        key="feasible_hv",
        ylabel="feasible hypervolume (median, min-max)",
        band="range",
    )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(1)
    command = provenance.command_line("mobo_constrained.py", argv)
    commit, machine = provenance.commit(), provenance.machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    store = args.out.with_suffix(".json")
    runs: list[dict] = provenance.read_json(store, {"runs": []})["runs"]
    runs = drop_reruns(runs, args)
    refuse_other_options(store, runs, args, problems={})
    key = ("problem", "algorithm", "seed", "evals", "n_initial")
    done = {tuple(r[k] for k in key) for r in runs}
    todo: list[tuple[str, str, int]] = [
        (problem, algorithm, seed)
        for seed in range(args.seeds)
        for problem in args.problems
        for algorithm in args.algorithms
        if (problem, algorithm, seed, args.evals, args.n_initial) not in done
        and not args.report_only
    ]
    for problem, algorithm, seed in todo:
        run = {
            **run_one(problem, algorithm, seed, args),
            "command": command,
            "commit": commit,
            "machine": machine,
        }
        runs.append(run)
        provenance.write_atomic(
            store, json.dumps({"command": command, "commit": commit, "runs": runs})
        )
        print(
            f"{problem:24s} {algorithm:10s} seed {seed}: feasible HV {run['feasible_hv'][-1]:.4g}"
            f", {run['cpu_seconds_per_iteration']:.2f} CPU s/iteration",
            flush=True,
        )
        write_outputs(args, runs, command, commit)
    rows = write_outputs(args, runs, command, commit)
    print(args.out.with_suffix(".md").read_text())
    return rows


if __name__ == "__main__":
    main()
