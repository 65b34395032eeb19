"""A small mobo study end to end: ``python -m mobo.demo`` (what ``make run`` runs for now).

Optimizes BraninCurrin with qLogNEHVI and with Sobol search under one budget, prints the
Pareto table and a summary of each, and writes the front and hypervolume plots.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import mobo  # noqa: E402
from mobo.plotting import plot_hypervolume_trace, plot_pareto_front  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mobo.demo", description=__doc__)
    parser.add_argument(
        "--problem", default="BraninCurrin", choices=mobo.problems.available_problems()
    )
    parser.add_argument("--algorithm", default="qlognehvi", choices=mobo.available_algorithms())
    parser.add_argument("--n-evals", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    problem = mobo.problems.make(args.problem)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in (args.algorithm, "sobol"):
        journal = args.out / f"{name}-seed{args.seed}.jsonl"
        journal.unlink(missing_ok=True)
        results[name] = mobo.optimize(
            problem, name, n_evals=args.n_evals, seed=args.seed, journal=journal
        )
    best = results[args.algorithm]
    print(f"\nPareto set found by {args.algorithm} (objectives in natural sign, minimized):")
    print(best.pareto_table())
    print()
    for result in results.values():
        print(result.summary())

    ax = plot_pareto_front(best)
    ax.figure.savefig(args.out / "pareto_front.png", dpi=120, bbox_inches="tight")
    ax = plot_hypervolume_trace({name: [r] for name, r in results.items()})
    ax.figure.savefig(args.out / "hypervolume.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    print(f"\nplots and journals written to {args.out}/")


if __name__ == "__main__":
    main()
