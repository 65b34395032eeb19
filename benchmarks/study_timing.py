"""Seconds per iteration of one algorithm on one test problem (issue: qLogNEHVI, BraninCurrin, 50).

    python benchmarks/study_timing.py --algorithm qlognehvi --problem BraninCurrin \
        --n-evals 50 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    problem = mobo.problems.make(args.problem)
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        result = mobo.optimize(
            problem, args.algorithm, n_evals=args.n_evals, seed=seed, show_progress=False
        )
        model_based = result.seconds_per_iteration[2 * (problem.dim + 1) :]  # after the design
        rows.append(
            {
                "seed": seed,
                "hypervolume_fraction": float(result.hypervolume[-1]) / problem.max_hv,
                "mean_seconds_per_iteration": float(model_based.mean()),
                "median_seconds_per_iteration": float(model_based.median()),
                "max_seconds_per_iteration": float(model_based.max()),
                "wall_seconds": time.perf_counter() - start,
            }
        )
        print(json.dumps(rows[-1]))
    command = provenance.command_line("study_timing.py", argv)
    commit = provenance.commit()
    name = f"study_timing_{args.algorithm}_{args.problem}_{args.n_evals}.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(
        json.dumps(
            dict(command=command, commit=commit, torch_threads=torch.get_num_threads(), runs=rows),
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
