"""Where a constrained search spends its evaluations: a per-evaluation trace (issue 16).

For each (problem, algorithm, seed) of BoTorch's constrained test problems, the run of
``benchmarks/mobo_constrained.py`` (same budget and seeds) again, keeping what that
benchmark drops: every evaluation's hypervolume gain, distance to the nearest earlier point
(unit cube), feasibility, objectives and constraint values. Summarized per run: the final
feasible hypervolume, the evaluations that added none, and how close the late feasible
evaluations come to the constraint boundary (the median, over the feasible evaluations
after ``--late`` whose largest constraint value lies within ``--near`` of 0, of that
value; closer to 0 is tighter). Written to ``<out>.json`` (every evaluation) and
``<out>.md``. Torch runs on one thread.

    python benchmarks/constrained_trace.py --problems ConstrainedBraninCurrin \\
        --algorithms mesmoc qlognehvi --seeds 3 --out /tmp/trace

Why: MESMOC trails constrained qLogNEHVI by about 1% on ConstrainedBraninCurrin and
DiscBrake, and which evaluations make the difference is not visible in final figures
(``results/mesmoc_information.md``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

import mobo

sys.path.insert(0, str(Path(__file__).parent))
from mobo_algorithms import add_run_arguments  # noqa: E402  (sibling scripts)
from mobo_constrained import ALGORITHMS, PROBLEMS, search  # noqa: E402
from provenance import command_line, commit, machine, write_results  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # The benchmark's own run arguments (the runs traced are its runs), with smaller defaults.
    add_run_arguments(parser, ALGORITHMS, PROBLEMS, '{"mesmoc": {"feasibility": "probability"}}')
    parser.set_defaults(
        problems=["ConstrainedBraninCurrin"], algorithms=["mesmoc", "qlognehvi"], seeds=3
    )
    parser.add_argument("--late", type=int, default=30, help="first evaluation counted late")
    parser.add_argument("--near", type=float, default=2.0, help="near the boundary: c > -near")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.command = command_line("constrained_trace.py", argv)
    return args


def trace(problem_name: str, algorithm: str, seed: int, args: argparse.Namespace) -> dict:
    problem = mobo.problems.make(problem_name)
    result = search(problem, algorithm, seed, args, **args.algorithm_options.get(algorithm, {}))
    U = problem.to_unit(result.X)
    hv = result.hypervolume
    steps = []
    for i in range(args.n_initial, U.shape[0]):
        steps.append(
            {
                "index": i,
                "gain": float(hv[i] - hv[i - 1]),
                "distance": float((U[:i] - U[i]).norm(dim=-1).min()),
                "feasible": bool((result.C[i] <= 0).all()),
                "y": result.Y[i].tolist(),
                "c": result.C[i].tolist(),
            }
        )
    worst = [max(s["c"]) for s in steps if s["index"] >= args.late and s["feasible"]]
    near = [c for c in worst if c > -args.near]
    return {
        "problem": problem_name,
        "algorithm": algorithm,
        "seed": seed,
        "final_hv": float(hv[-1]),
        "zero_gain": sum(s["gain"] <= 1e-12 for s in steps),
        "late_near_boundary": len(near),
        "late_boundary_median": statistics.median(near) if near else None,
        "steps": steps,
    }


def markdown(payload: dict, args: argparse.Namespace) -> str:
    lines = [
        "# Where a constrained search spends its evaluations",
        "",
        f"Command: `{payload['command']}`  ",
        f"Commit: `{payload['commit']}`  ",
        f"Machine: {payload['machine']}",
        "",
        f"Per run: final feasible hypervolume; model-based evaluations (of "
        f"{args.evals - args.n_initial}) that added no hypervolume; of the feasible "
        f"evaluations from index {args.late} on, how many lie within {args.near} of the "
        "constraint boundary (largest constraint value above -near) and the median of that "
        "value (closer to 0: tighter on the boundary).",
        "",
        "| problem | algorithm | seed | final HV | zero-gain | late near boundary | median c |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["runs"]:
        median = r["late_boundary_median"]
        lines.append(
            f"| {r['problem']} | {r['algorithm']} | {r['seed']} | {r['final_hv']:.4g} | "
            f"{r['zero_gain']} | {r['late_near_boundary']} | "
            f"{'-' if median is None else f'{median:.3f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for problem_name in args.problems:
        for algorithm in args.algorithms:
            for seed in range(args.seeds):
                runs.append(trace(problem_name, algorithm, seed, args))
                print(
                    f"{problem_name} {algorithm} seed {seed}: HV {runs[-1]['final_hv']:.4g}, "
                    f"late boundary median {runs[-1]['late_boundary_median']}",
                    flush=True,
                )
    payload = {"command": args.command, "commit": commit(), "machine": machine(), "runs": runs}
    write_results(args.out, payload, markdown(payload, args))
    return runs


if __name__ == "__main__":
    main()
