"""Seconds per iteration of one algorithm on one test problem (issue: qLogNEHVI, BraninCurrin, 50).

    python benchmarks/study_timing.py --algorithm qlognehvi --problem BraninCurrin \
        --n-evals 50 --seeds 0 1

Each model-based ask's CPU time (``Result.cpu_seconds_per_iteration``) and wall time, with
the load average: on a shared machine wall time also counts other processes' turns (2.3-2.7x
the CPU time of the same asks at load 4.8 on 2 cores), so compare speeds by CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

import mobo

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="qlognehvi")
    parser.add_argument("--problem", default="BraninCurrin")
    parser.add_argument("--n-evals", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=None, help="the results file (.json)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    problem = mobo.problems.make(args.problem)
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        result = mobo.optimize(
            problem, args.algorithm, n_evals=args.n_evals, seed=seed, show_progress=False
        )
        design = 2 * (problem.dim + 1)  # the asks after the initial design are model-based
        hv = float(result.hypervolume[-1])
        # a problem without a known maximum (DiscBrake) has no fraction; the timings stand
        fraction = None if problem.max_hv is None else hv / problem.max_hv
        row = {"seed": seed, "hypervolume": hv, "hypervolume_fraction": fraction}
        for clock, seconds in (
            ("cpu", result.cpu_seconds_per_iteration[design:]),
            ("wall", result.seconds_per_iteration[design:]),
        ):
            row[f"mean_{clock}_seconds_per_iteration"] = float(seconds.mean())
            row[f"median_{clock}_seconds_per_iteration"] = float(seconds.median())
            row[f"max_{clock}_seconds_per_iteration"] = float(seconds.max())
        row["wall_seconds"] = time.perf_counter() - start
        row["load_average_1min"] = os.getloadavg()[0]  # after the run: how shared it was
        rows.append(row)
        print(json.dumps(row))
    command = provenance.command_line("study_timing.py", argv)
    commit = provenance.commit()
    out = args.out or RESULTS / f"study_timing_{args.algorithm}_{args.problem}_{args.n_evals}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(
        command=command,
        commit=commit,
        machine=provenance.machine(),
        torch_threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        runs=rows,
    )
    out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
