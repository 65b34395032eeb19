"""Failed evaluations: what each ``failures`` option of the GP-based algorithms makes of them.

BraninCurrin (2 inputs, 2 objectives) with evaluations that fail (NaN), two ways:

- ``region``: every point with ``x0 > 0.5`` fails (a simulator that crashes in part of its
  space). The model never sees a failure unless told, so it can keep proposing into the
  region until ``max_failures_in_a_row`` (10, the default) stops the study.
- ``scattered``: about 15% of points fail, wherever they are (a hash of the point): bad
  luck, not a region to leave.

Each algorithm runs with each ``failures`` option (``mobo.algorithms.bayesian``) for
``--evals`` evaluations (``2 (d + 1) = 6`` Sobol points first) and the study's defaults,
so a study may stop early as a user's would. Reported per cell: the final hypervolume
(BoTorch's reference point; 0 when no point dominates it), the failed evaluations, and
how many runs stopped early; median (min-max) over seeds.

    python benchmarks/failures.py --seeds 5 --out benchmarks/results/failures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import warnings
from pathlib import Path

import torch

import mobo
from mobo.algorithms.bayesian import FAILURES
from mobo.metrics import hypervolume

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

KINDS = ("region", "scattered")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=["qlognehvi", "usemo", "mesmo"])
    parser.add_argument("--options", nargs="+", default=list(FAILURES), choices=FAILURES)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="also write <out>.md and <out>.json")
    return parser.parse_args(argv)


def failing_problem(kind: str) -> mobo.FunctionProblem:
    """BraninCurrin whose evaluations fail (NaN) in a region or at scattered points."""
    base = mobo.problems.make("BraninCurrin")

    def scattered(x: torch.Tensor) -> bool:  # ~15% of points, the same ones every run
        digest = hashlib.sha256(repr([round(v, 6) for v in x.tolist()]).encode()).digest()
        return digest[0] < 38

    def evaluate(X: torch.Tensor) -> torch.Tensor:
        Y = base.evaluate(X).clone()
        fails = X[:, 0] > 0.5 if kind == "region" else torch.tensor([scattered(x) for x in X])
        Y[fails] = float("nan")
        return Y

    return mobo.FunctionProblem(
        evaluate, base.bounds, 2, base.ref_point, name=f"BraninCurrin-failing-{kind}"
    )


def run(kind: str, algorithm: str, option: str, seed: int, evals: int) -> dict:
    problem = failing_problem(kind)
    study = mobo.Study(problem, algorithm, seed=seed, failures=option)
    stopped = False
    try:
        study.optimize(evals, show_progress=False)
    except mobo.StudyFailedError:
        stopped = True
    Y = study.Y
    hv = float(hypervolume(Y, problem.ref_point)) if len(Y) else 0.0
    return {
        "kind": kind,
        "algorithm": algorithm,
        "failures": option,
        "seed": seed,
        "hypervolume": hv,
        "failed": study.n_evaluated - len(Y),
        "evaluations": study.n_evaluated,
        "stopped": stopped,
    }


def cell(values: list[float], digits: int = 1) -> str:
    median = statistics.median(values)
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(runs: list[dict]) -> list[str]:
    lines = [
        "| failures | kind | algorithm | hypervolume | failed evaluations | stopped early |",
        "|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["kind"], r["algorithm"], r["failures"]) for r in runs)
    for kind, algorithm, option in sorted(keys, key=lambda k: (k[0], k[1], FAILURES.index(k[2]))):
        group = [
            r
            for r in runs
            if (r["kind"], r["algorithm"], r["failures"]) == (kind, algorithm, option)
        ]
        hv = cell([r["hypervolume"] for r in group])
        failed = cell([r["failed"] for r in group], 0)
        stopped = sum(r["stopped"] for r in group)
        lines.append(
            f"| {option} | {kind} | {algorithm} | {hv} | {failed} | {stopped} of {len(group)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    runs = []
    for kind in args.kinds:
        for algorithm in args.algorithms:
            for seed in range(args.seeds):
                for option in args.options:  # interleaved: each option on the same seed
                    runs.append(run(kind, algorithm, option, seed, args.evals))
                    print(json.dumps(runs[-1]), flush=True)
    lines = table(runs)
    print("\n".join(lines))
    if args.out is not None:
        write_outputs(args.out, argv, runs, lines)
    return runs


def write_outputs(out: Path, argv: list[str], runs: list[dict], lines: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = provenance.command_line("failures.py", argv)
    commit, machine = provenance.commit(), provenance.machine()
    payload = {"command": command, "commit": commit, "machine": machine, "runs": runs}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    md = [
        "# Failed evaluations and the `failures` option",
        "",
        f"Command: `{command}`",
        "",
        f"Commit: {commit}. Machine: {machine}, torch on 1 thread.",
        "",
        __doc__.split("\n\n", 1)[1].split("\n\n    python")[0],
        "",
        *lines,
    ]
    provenance.write_markdown(out.with_suffix(".md"), "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
