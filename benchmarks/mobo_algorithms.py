"""USeMO and MESMO against BoTorch's and pymoo's algorithms on standard test problems.

For every (problem, algorithm, seed): ``mobo.optimize`` with ``n_initial`` Sobol points and
then one point per iteration up to ``--evals`` evaluations. Reported per problem and
algorithm: the median over seeds of the final log10 hypervolume difference
``log10(max_hv - hv)`` (lower is better) and the median of the mean seconds per model-based
iteration (the ask only; evaluations are free here). Torch runs on one thread, the same for
every algorithm (on a shared 2-core machine more threads were slower, not faster). The
difference is taken from the problem's current ``max_hv`` when the report is written, not
the one a run was recorded with (see :func:`with_current_max_hv`).

    python benchmarks/mobo_algorithms.py                 # all of it: results/mobo_algorithms_50.*
    python benchmarks/mobo_algorithms.py --quick         # seconds: a smoke test
    python benchmarks/mobo_algorithms.py --algorithms usemo mesmo --problems ZDT1 --seeds 3
    python benchmarks/mobo_algorithms.py --quick --workers 2  # runs spread over 2 processes
    python benchmarks/mobo_algorithms.py --rerun usemo   # after changing USeMO: its runs again
    python benchmarks/mobo_algorithms.py --report-only   # tables and plot again, no run

Runs are appended to ``<out>.json`` as they finish and skipped when found there, so an
interrupted run resumes; ``<out>.csv``, ``<out>.md`` (with the exact command) and ``<out>.png``
(median log10 HV difference vs evaluations) are rewritten after every run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

import mobo
from mobo.metrics import LOG_FLOOR, log_hypervolume_difference
from mobo.plotting import median_over_seeds, plot_median_traces

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"
ALGORITHMS = ["usemo", "mesmo", "pesmo", "qlognehvi", "qparego", "nsga2", "sobol"]
PROBLEMS: dict[str, dict[str, Any]] = {
    "BraninCurrin": {},
    "ZDT1": {"dim": 4},
    "DTLZ2": {"dim": 6, "num_objectives": 2},
    "VehicleSafety": {},
}


def add_run_arguments(parser: argparse.ArgumentParser, algorithms, problems, example: str):
    """The options every algorithm-comparison benchmark takes: which algorithms on which
    problems, seeds, budget, initial design, per-algorithm options (``example``: a JSON
    sample for the help)."""
    parser.add_argument("--algorithms", nargs="+", default=list(algorithms))
    parser.add_argument("--problems", nargs="+", default=list(problems), choices=list(problems))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1")
    parser.add_argument("--evals", type=int, default=50, help="evaluations, initial included")
    parser.add_argument("--n-initial", type=int, default=10)
    parser.add_argument(
        "--algorithm-options",
        type=json.loads,
        default={},
        help=f"JSON of per-algorithm options, e.g. '{example}' "
        "(a store of runs made with other options is refused: a fresh --out per variant)",
    )


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what ran and reported nonsense ("seeds 0..-1", "10 initial Sobol + -5
    sequential evaluations") or was silently ignored (options of an algorithm not run)."""
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if not 1 <= args.n_initial < args.evals:
        parser.error(f"need 1 <= --n-initial < --evals, got {args.n_initial} and {args.evals}")
    unused = sorted(set(args.algorithm_options) - set(args.algorithms))
    if unused:
        parser.error(f"--algorithm-options for {unused}, which --algorithms does not run")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(parser, ALGORITHMS, PROBLEMS, '{"usemo": {"acquisitions": ["ei"]}}')
    parser.add_argument(
        "--quick", action="store_true", help="BraninCurrin, usemo/mesmo/sobol, 2 seeds, 14 evals"
    )
    add_rerun_argument(parser)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the tables and the plot from the runs stored in --out "
        "(a run the configuration asks for but the store lacks stays missing)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "mobo_algorithms_50")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="spread the (problem, algorithm, seed) runs over N worker processes; 1: all "
        "in this process, one after another",
    )
    parser.add_argument(
        "--backend",
        choices=["dask", "joblib"],
        default="dask",
        help="with --workers > 1: a Dask LocalCluster (pip install distributed) or joblib",
    )
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.report_only and args.rerun:
        parser.error("--report-only runs nothing, so it cannot --rerun")
    if args.quick:
        args.algorithms = ["usemo", "mesmo", "sobol"]
        args.problems = ["BraninCurrin"]
        args.seeds, args.evals, args.n_initial = 2, 14, 10
        if args.out == RESULTS / "mobo_algorithms_50":
            args.out = RESULTS / "mobo_algorithms_quick"
    return args


def run_one(
    problem_name: str,
    algorithm: str,
    seed: int,
    evals: int,
    n_initial: int,
    options: dict[str, Any] | None = None,
) -> dict:
    torch.set_num_threads(1)  # also in worker processes, which start with torch's default
    problem = mobo.problems.make(problem_name, **PROBLEMS[problem_name])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mobo.optimize(
            problem,
            algorithm,
            n_evals=evals,
            seed=seed,
            show_progress=False,
            n_initial=n_initial,
            **(options or {}),
        )
    model_steps = result.seconds_per_iteration[n_initial:]
    return {
        "problem": problem_name,
        "algorithm": algorithm,
        "seed": seed,
        "evals": evals,
        "n_initial": n_initial,
        "options": options or {},
        "log_hv_difference": result.log_hv_difference.tolist(),
        # The report recomputes the difference from these when max_hv changes.
        "hypervolume": result.hypervolume.tolist(),
        "max_hv": problem.max_hv,
        "seconds_per_iteration": float(model_steps.mean()) if model_steps.numel() else 0.0,
        "wall_seconds": time.perf_counter() - start,
    }


def options_of(run: dict, args: argparse.Namespace) -> dict | None:
    """The options this command gives ``run``'s algorithm (None: it does not run it)."""
    if run["algorithm"] not in args.algorithms:
        return None
    return args.algorithm_options.get(run["algorithm"]) or {}


def add_rerun_argument(parser: argparse.ArgumentParser) -> None:
    """``--rerun``, for the benchmarks that keep their runs in a store (:func:`drop_reruns`)."""
    parser.add_argument(
        "--rerun",
        nargs="+",
        default=[],
        metavar="ALGORITHM",
        help="drop the stored runs of these algorithms on the --problems and --seeds given and "
        "run them again (after a change to their code or defaults)",
    )


def drop_reruns(runs: list[dict], args: argparse.Namespace) -> list[dict]:
    """``runs`` without those ``--rerun`` makes again: of the named algorithms, on the
    problems and seeds this command runs. A rerun of one problem once dropped the
    algorithm's runs on every other problem too, hours of runs lost from the store."""

    def again(run: dict) -> bool:
        return (
            run["algorithm"] in args.rerun
            and run["problem"] in args.problems
            and run["seed"] < args.seeds
        )

    return [r for r in runs if not again(r)]


def refuse_other_options(store: Path, runs: list[dict], args, problems=PROBLEMS) -> None:
    """:func:`provenance.refuse_other_settings` on the runs' options, each side without the
    options equal to the algorithm's defaults (:func:`explicit_options`): runs given the
    defaults explicitly are the default runs. The shipped ``mobo_algorithms_50.json``, merged
    from stores made with ``--algorithm-options``, holds usemo runs with ``{"noisy": true}``
    and qlognehvi runs with the surrogate's defaults, and its documented ``--report-only``
    refused it (sweep 29). ``problems``: keyword arguments of each problem, by name."""

    def explicit(run: dict, options: dict | None) -> dict | None:
        if not options:
            return options
        problem = mobo.problems.make(run["problem"], **problems.get(run["problem"], {}))
        return explicit_options(run["algorithm"], options, problem)

    def wanted(run: dict) -> dict | None:
        return explicit(run, options_of(run, args))

    checked = [{**r, "options": explicit(r, r.get("options"))} for r in runs]
    provenance.refuse_other_settings(store, checked, "options", wanted)


def explicit_options(algorithm: str, options: dict, problem: mobo.Problem) -> dict:
    """``options`` of ``algorithm`` on ``problem`` less those equal to its defaults: a
    keyword's default in the algorithm's constructor, or, within ``surrogate``, what its
    default surrogate has (the algorithm's and the problem's surrogate options included)."""
    made = mobo.algorithms.make_algorithm(algorithm, problem)
    out = {}
    for key, value in options.items():
        if key == "surrogate" and isinstance(value, dict):
            surrogate = made.surrogate
            rest = {k: v for k, v in value.items() if getattr(surrogate, k, _MISSING) != v}
            if rest:
                out[key] = rest
        elif _default(type(made), key) != value:
            out[key] = value
    return out


_MISSING = object()


def _default(cls: type, key: str):
    """The default of keyword ``key`` in the first constructor of ``cls``'s MRO that takes
    it (subclasses pass the others on as ``**kwargs``)."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            param = inspect.signature(klass.__init__).parameters.get(key)
            if param is not None:
                return param.default
    return _MISSING


def _short(commit: str) -> str:
    """A run's commit as tables show it: 9 hex digits (older runs stored all 40)."""
    head, _, changes = commit.partition("+")
    return head[:9] + (f"+{changes}" if changes else "") if " " not in commit else commit


#: Runs stored before each run carried its commit were recorded at this commit or earlier.
UNTAGGED = "849e99b or earlier"


#: BoTorch's max_hv, which runs stored without their own ``max_hv`` (before f4b86b6) were
#: recorded with, for the problems whose value has changed since (results/max_hv.md).
RECORDED_MAX_HV = {"BraninCurrin": 59.36011874867746}


def current_max_hv(problem: str) -> float:
    """The ``max_hv`` that ``mobo.problems`` gives ``problem`` (with this suite's sizes) now."""
    return mobo.problems.make(problem, **PROBLEMS.get(problem, {})).max_hv


def with_current_max_hv(runs: list[dict]) -> list[dict]:
    """``runs`` with ``log_hv_difference`` taken from the current ``max_hv``: a stored value
    is ``log10(max_hv - hv)`` against the ``max_hv`` of its day, and BoTorch's values for
    BraninCurrin and others were beaten by evaluated points (f4b86b6), so a stale one
    understated the gap (usemo's median 0.100 on BraninCurrin, 0.115 against 59.40501).

    A run with a ``hypervolume`` trace is recomputed from it; an older one recovers
    ``hv = max_hv_then - 10**d`` with its own ``max_hv`` or :data:`RECORDED_MAX_HV`. A
    difference floored at ``log10(LOG_FLOOR)`` cannot be recovered (the run may have passed
    the old ``max_hv``): refused when ``max_hv`` has changed."""
    floor = math.log10(LOG_FLOOR)
    current: dict[str, float] = {}
    out = []
    for run in runs:
        name = run["problem"]
        if name not in current:
            current[name] = current_max_hv(name)
        now = current[name]
        if "hypervolume" in run:
            hv = torch.tensor(run["hypervolume"], dtype=torch.float64)
        else:
            then = run.get("max_hv", RECORDED_MAX_HV.get(name, now))
            if then == now:
                out.append(run)
                continue
            if min(run["log_hv_difference"]) <= floor:
                raise ValueError(
                    f"{name} {run['algorithm']} seed {run['seed']} stored log10 HV difference "
                    f"{floor:g} (the floor) against max_hv {then}: its hypervolume is lost, so "
                    f"no difference to today's {now} can be given; rerun it (--rerun)"
                )
            hv = then - 10 ** torch.tensor(run["log_hv_difference"], dtype=torch.float64)
        difference = log_hypervolume_difference(hv, now).tolist()
        out.append({**run, "log_hv_difference": difference, "max_hv": now})
    return out


def summarize(runs: list[dict], problems: list[str], algorithms: list[str]) -> list[dict]:
    rows = []
    for problem in problems:
        for algorithm in algorithms:
            mine = [r for r in runs if r["problem"] == problem and r["algorithm"] == algorithm]
            if not mine:
                continue
            finals = [r["log_hv_difference"][-1] for r in mine]
            rows.append(
                {
                    "problem": problem,
                    "algorithm": algorithm,
                    "seeds": len(mine),
                    "median_log10_hv_difference": statistics.median(finals),
                    "min_log10_hv_difference": min(finals),
                    "max_log10_hv_difference": max(finals),
                    "median_seconds_per_iteration": statistics.median(
                        r["seconds_per_iteration"] for r in mine
                    ),
                    "commits": sorted({_short(r.get("commit", UNTAGGED)) for r in mine}),
                }
            )
    return rows


def write_outputs(args: argparse.Namespace, runs: list[dict], command: str) -> list[dict]:
    runs = provenance.reported(runs, args.seeds, evals=args.evals, n_initial=args.n_initial)
    runs = with_current_max_hv(runs)
    rows = summarize(runs, args.problems, args.algorithms)
    out = args.out
    header = (
        "problem,algorithm,seeds,median_log10_hv_difference,min_log10_hv_difference,"
        "max_log10_hv_difference,median_seconds_per_iteration"
    )
    lines = [header] + [
        f"{r['problem']},{r['algorithm']},{r['seeds']},{r['median_log10_hv_difference']:.4f},"
        f"{r['min_log10_hv_difference']:.4f},{r['max_log10_hv_difference']:.4f},"
        f"{r['median_seconds_per_iteration']:.3f}"
        for r in rows
    ]
    out.with_suffix(".csv").write_text("\n".join(lines) + "\n")
    md = [
        "# mobo algorithms benchmark",
        "",
        "Commands that made the runs (with `--rerun`, earlier runs of the other algorithms "
        "are kept):",
        "",
        *[f"- `{c}`" for c in dict.fromkeys(r["command"] for r in runs if r.get("command"))],
        "",
        f"Configuration: problems {args.problems}; algorithms {args.algorithms}; "
        f"seeds 0..{args.seeds - 1}; {args.n_initial} initial Sobol + "
        f"{args.evals - args.n_initial} sequential evaluations; torch on 1 thread.",
        "",
        f"Machines (the same seed can end differently on another): {provenance.machines_of(runs)}.",
        "",
        f"Completed runs: {len(runs)} of {len(args.problems) * len(args.algorithms) * args.seeds}.",
        "",
        "Median (and range) over seeds of the final log10 hypervolume difference (lower is",
        "better; from each problem's current `max_hv`: "
        + ", ".join(f"{p} {current_max_hv(p):.7g}" for p in args.problems)
        + ") and median of each run's mean wall seconds per model-based iteration (ask",
        "only; `mobo_constrained.py` and `mobo_fidelity.py` report CPU seconds).",
        "",
        "| problem | algorithm | seeds | median log10 HV diff | min to max "
        "| median wall s/iteration | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r['problem']} | {r['algorithm']} | {r['seeds']} | "
        f"{r['median_log10_hv_difference']:.3f} | {r['min_log10_hv_difference']:.3f} to "
        f"{r['max_log10_hv_difference']:.3f} | {r['median_seconds_per_iteration']:.2f} | "
        f"{', '.join(r['commits'])} |"
        for r in rows
    ]
    provenance.write_markdown(out.with_suffix(".md"), "\n".join(md) + "\n")
    plot(args, runs, out.with_suffix(".png"))
    return rows


def plot(
    args: argparse.Namespace,
    runs: list[dict],
    path: Path,
    *,
    key: str = "log_hv_difference",
    ylabel: str = "median log10 HV difference",
    band: str | None = None,
) -> None:
    """One panel per problem: per algorithm the median over seeds of each run's ``key``
    trace against evaluations, with a band over seeds if ``band`` is given (see
    :func:`mobo.plotting.plot_median_traces`); the initial design ends at the dotted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(args.problems), figsize=(4.2 * len(args.problems), 3.6), squeeze=False
    )
    for ax, problem in zip(axes[0], args.problems, strict=True):
        traces = {
            algorithm: torch.tensor(
                [r[key] for r in runs if r["problem"] == problem and r["algorithm"] == algorithm]
            )
            for algorithm in args.algorithms
        }
        traces = {a: t for a, t in traces.items() if t.numel()}
        if band is None:  # the median alone: a band for each of 7 algorithms hides the lines
            traces = {a: median_over_seeds(t).unsqueeze(0) for a, t in traces.items()}
        plot_median_traces(ax, traces, band=band or "quartiles")
        ax.axvline(args.n_initial, color="grey", linestyle=":", linewidth=1)
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
    axes[0][0].set_ylabel(ylabel)
    labelled = {}
    for ax in axes[0]:
        labelled.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    if labelled:
        axes[0][-1].legend(list(labelled.values()), list(labelled), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_all(todo: list[tuple], workers: int, backend: str) -> Iterator[dict]:
    """Yield the run of each ``run_one`` argument tuple in ``todo``, as each finishes.

    One worker: here, in order. More: in that many worker processes (one torch thread
    each), from a Dask ``LocalCluster`` or joblib, in the order they finish.
    """
    if workers == 1 or len(todo) <= 1:
        for arguments in todo:
            yield run_one(*arguments)
        return
    if backend == "dask":
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            print("distributed is not installed: using joblib", file=sys.stderr)
            backend = "joblib"
    if backend == "dask":
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            futures = [client.submit(run_one, *arguments, pure=False) for arguments in todo]
            for future in as_completed(futures):
                yield future.result()
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    yield from parallel(delayed(run_one)(*arguments) for arguments in todo)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(1)
    command = provenance.command_line("mobo_algorithms.py", argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    store = args.out.with_suffix(".json")
    stored = provenance.read_json(store, {"runs": []})
    # A run stored before runs carried their command was made by the file's last command.
    runs = [{"command": stored.get("command"), **r} for r in stored["runs"]]
    runs = drop_reruns(runs, args)
    refuse_other_options(store, runs, args)
    done = {(r["problem"], r["algorithm"], r["seed"], r["evals"], r["n_initial"]) for r in runs}
    # Seeds outermost, so an interrupted run still has every algorithm on the early seeds.
    todo = [
        (
            problem,
            algorithm,
            seed,
            args.evals,
            args.n_initial,
            args.algorithm_options.get(algorithm),
        )
        for seed in range(args.seeds)
        for problem in args.problems
        for algorithm in args.algorithms
        if (problem, algorithm, seed, args.evals, args.n_initial) not in done
        and not args.report_only
    ]
    start = time.perf_counter()
    commit, machine = provenance.commit(), provenance.machine()
    for run in run_all(todo, args.workers, args.backend):
        runs.append({**run, "commit": commit, "command": command, "machine": machine})
        provenance.write_atomic(store, json.dumps({"command": command, "runs": runs}))
        print(
            f"{run['problem']:14s} {run['algorithm']:10s} seed {run['seed']}: log10 HV diff "
            f"{run['log_hv_difference'][-1]:7.3f}, "
            f"{run['seconds_per_iteration']:6.2f} s/iteration",
            flush=True,
        )
        write_outputs(args, runs, command)
    print(
        f"{len(todo)} runs on {args.workers} worker(s): "
        f"{time.perf_counter() - start:.1f} s wall time",
        flush=True,
    )
    rows = write_outputs(args, runs, command)
    print(f"\n{'problem':14s} {'algorithm':10s} seeds  log10 HV diff  s/iteration")
    for r in rows:
        print(
            f"{r['problem']:14s} {r['algorithm']:10s} {r['seeds']:5d}  "
            f"{r['median_log10_hv_difference']:13.3f}  {r['median_seconds_per_iteration']:11.2f}"
        )


if __name__ == "__main__":
    main()
