"""Threshold search on the study's LEANets: algorithms and search spaces against Sobol.

For every cached LEANet of ``benchmarks/leanet_study.py`` (network seed 0), the validation
:class:`~leanet.problem.ThresholdProblem` with its documented reference point (accuracy
just below the cheapest exit's, energy of the full network), searched by each algorithm in
each search space (``linear``: thresholds T; ``log<k>``: log-spaced 1 - T over k decades;
``quantile``: per level, the rank among the distinct validation confidences)
for ``--seeds`` optimizer seeds. Reported: the hypervolume after 10 and ``--evals``
evaluations over the dense reference front's (``max_hv``), median and range over seeds per
network, then the median over every (network, seed) and the worst network's median; and
seconds per model-based iteration. Torch runs on one thread.

    python benchmarks/threshold_search.py                          # results/threshold_search.*
    python benchmarks/threshold_search.py --algorithms sobol --spaces linear log2 log4 log6 quantile
    python benchmarks/threshold_search.py --algorithms qlognehvi+warp   # GP input warping

Networks come from the study's cache (``runs/leanet-study``; run the study or
``leanet_seeds.py`` first); a missing network is an error, never trained here. Runs are
appended to ``<out>.json`` as they finish and skipped when found there, so an interrupted
run resumes; ``<out>.md`` (with the command and commit) is rewritten after every network.
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

sys.path.insert(0, str(Path(__file__).parent))
import leanet_study  # noqa: E402
import provenance  # noqa: E402
from study_networks import cached_network  # noqa: E402

import mobo  # noqa: E402
from leanet.costs import measure_costs  # noqa: E402
from leanet.data import load_dataset  # noqa: E402
from leanet.evaluator import ThresholdEvaluator  # noqa: E402
from leanet.problem import LOG_DECADES, ThresholdProblem  # noqa: E402
from leanet.reference_front import reference_front  # noqa: E402
from mobo.surrogate import WARM_FIT  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MARK = 10  # the initial Sobol design's size: what the model adds shows after it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(leanet_study.NETS))
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "digits8x8"])
    parser.add_argument("--levels", nargs="+", default=["hybrid", "width", "depth"])
    parser.add_argument("--algorithms", nargs="+", default=["sobol", "usemo", "qlognehvi"])
    parser.add_argument(
        "--spaces",
        nargs="+",
        default=["linear", f"log{LOG_DECADES:g}"],
        help="default: T, and the default log space",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=25)
    parser.add_argument("--fine-tune-epochs", type=int, default=None, help="see leanet_study")
    parser.add_argument("--reference-samples", type=int, default=50_000)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--records", type=Path, default=Path("runs/threshold-search"))
    parser.add_argument("--out", type=Path, default=RESULTS / "threshold_search")
    parser.add_argument("--note", default=None, help="findings kept at the top of the report")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=[],
        help="also take the runs of these result files (e.g. runs made in other processes)",
    )
    args = parser.parse_args(argv)
    args.command = provenance.command_line("threshold_search.py", argv)
    return args


def space_options(space: str) -> dict:
    """``"linear"``, ``"quantile"`` or ``"log<k>"`` -> ThresholdProblem keyword arguments."""
    if space in ("linear", "quantile"):
        return {"space": space}
    if space.startswith("log"):
        return {"space": "log", "log_decades": float(space[3:])}
    raise ValueError(f"a space is 'linear', 'quantile' or 'log<decades>', got {space!r}")


def validation_evaluator(name: str, arch: str, levels: str, data, args) -> ThresholdEvaluator:
    """The cached network's validation evaluator (records kept apart from the study's)."""
    _, net = cached_network(arch, data.name, levels, 0, data, args)
    args.records.mkdir(parents=True, exist_ok=True)
    costs = measure_costs(net, "45nm-fp32")
    return ThresholdEvaluator.from_model(
        net, data.val, costs, cache=args.records / f"{name}-s0-val.pt"
    )


#: Variants an algorithm name may carry after "+": options that differ from its defaults.
VARIANTS = {
    "warp": {"surrogate": {"input_warping": True}},  # Kumaraswamy warping of the GP inputs
    "paper": {"acquisitions": ("ei", "ucb")},  # USeMO's portfolio as published (before b75d5a2)
    "wide": {"num_restarts": 16, "raw_samples": 1024},  # 4x the acquisition optimizer's budget
    "worst": {"surrogate": {"prior_mean": "worst"}},  # GP mean fixed at the worst observation
    "fitted": {"surrogate": {"prior_mean": "fitted"}},  # GP mean fitted (before ThresholdProblem
    # asked for "worst")
    "box": {"selection": "box"},  # USeMO's paper selection (its default before 4cc6376)
    "gamma": {"surrogate": {"kernel": "gamma"}},  # Matern-5/2 with Gamma priors (BoTorch < 0.12)
    "nopolish": {"polish": False, "noisy": False},  # USeMO's EHVI choice unpolished (its
    # default before 5fafd49)
    "observed": {"noisy": False},  # USeMO's qLogEHVI over the observed front (before noisy)
    "nosobol": {"sobol_candidates": False},  # USeMO without Sobol candidates (before c0f886e)
    # GP hyperparameters fitted from the priors' defaults each time, to convergence (the
    # default since 75b162b, but not USeMO's or MESMO's)
    "cold": {"surrogate": {"warm_start": False, "max_iter": 1000, "max_attempts": 5}},
    # the fit before 75b162b (USeMO's and MESMO's still): warm-started from the previous
    # fit, at most 60 iterations
    "warm": {"surrogate": dict(WARM_FIT)},
}


def algorithm_options(name: str) -> tuple[str, dict]:
    """``"usemo"``, or with a variant (``"qlognehvi+warp"``) -> (mobo algorithm, options)."""
    algorithm, _, variant = name.partition("+")
    if variant and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} of {algorithm!r} (known: {list(VARIANTS)})")
    return algorithm, dict(VARIANTS.get(variant, {}))


def one_run(problem: ThresholdProblem, name: str, seed: int, evals: int) -> dict:
    algorithm, options = algorithm_options(name)
    start = time.process_time()
    result = mobo.optimize(
        problem,
        algorithm,
        n_evals=evals,
        seed=seed,
        show_progress=False,
        n_initial=MARK,
        **options,
    )
    seconds = time.process_time() - start
    ratio = [round(r, 5) for r in (result.hypervolume / problem.max_hv).tolist()]
    return {
        "hv_ratio": ratio,
        "cpu_seconds_per_iteration": seconds / max(1, evals - MARK),
        "distinct_objectives": len({tuple(y) for y in result.Y.tolist()}),
    }


def _median_range(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.3f} ({min(values):.3f}-{max(values):.3f})"


def _method(run: dict) -> tuple[str, str, bool]:
    """(algorithm, space, whether known plateaus were skipped: runs before commit 73e6ad0
    could spend evaluations on outcomes already measured)."""
    return run["algorithm"], run["space"], run.get("skips_known_plateaus", True)


def _ratios(runs: list[dict], method: tuple, at: int, networks=None) -> list[float]:
    return [
        r["hv_ratio"][at - 1]
        for r in runs
        if _method(r) == method and (networks is None or r["network"] in networks)
    ]


def _paired_with_sobol(runs: list[dict], methods: list[tuple], evals: int) -> list[str]:
    """Each method against Sobol in its space run by run: the same network and seed start
    from the same Sobol design, so the pairs separate the method from the network and seed
    it happened to get. Per seed, the median over networks shows how much the pooled
    median moves with the seeds alone."""
    at = {(r["network"], *_method(r), r["seed"]): r["hv_ratio"][evals - 1] for r in runs}
    lines = [
        "",
        f"## Paired with Sobol after {evals} evaluations",
        "",
        "Each run against the Sobol run on the same network and seed (same initial design): "
        "how many are ahead, tied or behind, and the median and mean difference; then, per "
        "seed, the median over networks of the method and of Sobol (the seed-to-seed spread "
        "of the summary's median).",
        "",
        "| algorithm | space | pairs | ahead / tied / behind | difference: median / mean | "
        "per-seed median | Sobol per-seed median |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        if method[0] == "sobol":
            continue
        pairs = [
            (network, seed, value, at[(network, "sobol", *method[1:], seed)])
            for (network, *m, seed), value in at.items()
            if tuple(m) == method and (network, "sobol", *method[1:], seed) in at
        ]
        if not pairs:
            continue
        diffs = [v - b for _, _, v, b in pairs]
        seeds = sorted({seed for _, seed, _, _ in pairs})
        mine = [statistics.median(v for _, s, v, _ in pairs if s == seed) for seed in seeds]
        bar = [statistics.median(b for _, s, _, b in pairs if s == seed) for seed in seeds]
        lines.append(
            f"| {method[0]} | {method[1]} | {len(pairs)} | {sum(d > 0 for d in diffs)} / "
            f"{sum(d == 0 for d in diffs)} / {sum(d < 0 for d in diffs)} | "
            f"{statistics.median(diffs):+.4f} / {statistics.mean(diffs):+.4f} | "
            f"{' / '.join(f'{v:.3f}' for v in mine)} | "
            f"{' / '.join(f'{v:.3f}' for v in bar)} |"
        )
    return lines


def markdown(payload: dict) -> str:
    """The report: a summary row per (algorithm, space) with Sobol in the same space on the
    same networks as its bar, then per network and algorithm the ratio after the last
    evaluation in each space."""
    runs = payload["runs"]
    methods = list(dict.fromkeys(_method(r) for r in runs))
    names = list(dict.fromkeys(r["network"] for r in runs))
    evals = min(len(r["hv_ratio"]) for r in runs)
    lines = [
        "# Threshold search: algorithms and search spaces against Sobol",
        "",
        "Commands that made the runs: " + provenance.listed_commands(payload["commands"]),
        "",
        "Commits of the runs: " + ", ".join(dict.fromkeys(r["commit"] for r in runs)) + "  ",
        f"Machine: {payload['machine']}",
        "",
        *([payload["note"], ""] if payload.get("note") else []),
        "Hypervolume over the dense reference front's, from the documented reference point "
        "(accuracy 0.01 below the cheapest exit's, energy ratio 1.0 = the full network), on "
        "the validation split of each LEANet (network seed 0). The first "
        f"{MARK} evaluations are the same scrambled Sobol design for every algorithm "
        "(in that algorithm's search space). Cells: median (min-max) over runs.",
        "",
        f"## Summary after {MARK} and {evals} evaluations",
        "",
        "Sobol: Sobol in the same space on the same networks and seeds, the bar to clear. "
        "Worst: the lowest per-network median. Distinct: objective pairs not repeated, of "
        f"{evals} (a repeat is an evaluation spent on a plateau already measured).",
        "",
        f"| algorithm | space | skips known plateaus | networks x seeds | after {MARK} | "
        f"after {evals} | Sobol after {evals} | worst network | distinct | CPU s / iteration |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        mine = [r for r in runs if _method(r) == method]
        nets = {r["network"] for r in mine}
        seeds = {r["seed"] for r in mine}
        bar = [
            r["hv_ratio"][evals - 1]
            for r in runs
            if _method(r) == ("sobol", *method[1:]) and r["network"] in nets and r["seed"] in seeds
        ]
        worst = min(statistics.median(_ratios(runs, method, evals, {n})) for n in nets)
        lines.append(
            f"| {method[0]} | {method[1]} | {'yes' if method[2] else 'no'} | "
            f"{len(nets)} x {len(seeds)} | "
            f"{_median_range(_ratios(runs, method, MARK))} | "
            f"{_median_range(_ratios(runs, method, evals))} | {_median_range(bar)} | "
            f"{worst:.3f} | {statistics.mean(r['distinct_objectives'] for r in mine):.1f} | "
            f"{statistics.median(r['cpu_seconds_per_iteration'] for r in mine):.2f} |"
        )
    lines += _paired_with_sobol(runs, methods, evals)
    for algorithm in dict.fromkeys(m[0] for m in methods):
        columns = [m for m in methods if m[0] == algorithm]
        names_of = [s if skips else f"{s}, repeats" for _, s, skips in columns]
        lines += [
            "",
            f"## {algorithm}: after {evals} evaluations, per network",
            "",
            "('repeats': before known plateaus were skipped.)",
            "",
            "| network | " + " | ".join(names_of) + " |",
            "|---" * (len(columns) + 1) + "|",
        ]
        for name in names:
            cells = [_median_range(_ratios(runs, m, evals, {name})) for m in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    path = args.out.with_suffix(".json")
    payload = provenance.read_json(path, {"commands": [], "runs": []})

    def key(r: dict) -> tuple:
        return (r["network"], *_method(r), r["seed"])

    for source in args.merge:
        payload["runs"] = provenance.merge_runs(
            payload["runs"], provenance.read_results(source)["runs"], key
        )
    merged_by = [args.command] if args.merge else []
    payload["commands"] = list(
        dict.fromkeys([*payload["commands"], *(r["command"] for r in payload["runs"]), *merged_by])
    )
    machine = provenance.machine()
    payload["machine"] = provenance.machines_of(payload["runs"], extra=", 1 thread")
    if args.note:
        payload["note"] = args.note
    done = {key(r) for r in payload["runs"]}
    at = provenance.commit()  # the code that runs is the code at start
    for dataset in args.datasets:
        data = load_dataset(dataset, seed=0)
        for arch in args.archs:
            for levels in args.levels:
                name = f"{arch}-{dataset}-{levels}"
                wanted = [
                    (name, algorithm, space, True, seed)
                    for space in args.spaces
                    for algorithm in args.algorithms
                    for seed in range(args.seeds)
                ]
                if done.issuperset(wanted):
                    continue
                evaluator = validation_evaluator(name, arch, levels, data, args)
                front, _ = reference_front(evaluator, n_samples=args.reference_samples)
                for space in args.spaces:
                    problem = ThresholdProblem(evaluator, reference=False, **space_options(space))
                    problem.max_hv = mobo.hypervolume(front.objectives(), problem.ref_point)
                    for algorithm in args.algorithms:
                        for seed in range(args.seeds):
                            if (name, algorithm, space, True, seed) in done:
                                continue
                            run = one_run(problem, algorithm, seed, args.evals)
                            run.update(network=name, algorithm=algorithm, space=space, seed=seed)
                            run.update(
                                commit=at,
                                command=args.command,
                                machine=machine,
                                skips_known_plateaus=True,
                            )
                            payload["runs"].append(run)
                            if args.command not in payload["commands"]:
                                payload["commands"].append(args.command)
                            provenance.write_atomic(path, json.dumps(payload))
                            print(
                                f"{name} {algorithm} {space} seed {seed}: "
                                f"{run['hv_ratio'][-1]:.4f}",
                                flush=True,
                            )
                if payload["runs"]:
                    provenance.write_markdown(args.out.with_suffix(".md"), markdown(payload))
    if payload["runs"]:
        provenance.write_atomic(path, json.dumps(payload))
        provenance.write_markdown(args.out.with_suffix(".md"), markdown(payload))
    return payload


if __name__ == "__main__":
    main()
